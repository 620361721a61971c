// Zero-copy sub-tensor views on the wasm heap.
//
// The backend's C functions address tensors by id, so to run an XNNPACK call on
// a slice of a tensor we register a second id for memory inside the first one.
// Such a view must be released with `disposeView` (which unregisters it without
// freeing the memory it borrows), never with `backend.disposeData`.
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { sizeOf, wasmModule, type BackendWasm } from './kernel-utils';

export function subTensorView(backend: BackendWasm, base: TensorInfo, elementOffset: number, shape: number[]): TensorInfo {
  const { memoryOffset } = backend.dataIdMap.get(base.dataId)!;
  if (elementOffset + sizeOf(shape) > sizeOf(base.shape)) throw new Error('subTensorView out of range');
  return backend.makeOutput(shape, base.dtype, memoryOffset + elementOffset * 4);
}

export function disposeView(backend: BackendWasm, view: TensorInfo): void {
  const data = backend.dataIdMap.get(view.dataId);
  if (data === undefined) return;
  // Runs the C++ disposal callbacks (cached XNNPACK operators keyed on this id).
  wasmModule(backend).tfjs.disposeData(data.id);
  backend.dataIdMap.delete(view.dataId);
}
