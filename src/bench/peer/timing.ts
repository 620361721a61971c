// The timing loop of the side by side: two untimed warm-up calls, then calls until `seconds` have
// passed (at least three); images per second at `batch` images a call.
export async function imagesPerSecond(run: () => Promise<void>, batch: number, seconds: number): Promise<number> {
  for (let i = 0; i < 2; i++) await run();
  let steps = 0;
  const t0 = performance.now();
  while (steps < 3 || performance.now() - t0 < seconds * 1000) {
    await run();
    steps++;
  }
  return (steps * batch * 1000) / (performance.now() - t0);
}
