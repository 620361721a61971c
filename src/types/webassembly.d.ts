// The WebAssembly JS API that Node has as a global but @types/node 20 does not declare (TypeScript
// declares it only in lib.dom). A subset of lib.dom's declarations, for the Node program
// (tsconfig.json), which has no DOM types; the programs with DOM types do not include this file.
declare namespace WebAssembly {
  interface Instance {
    readonly exports: Exports;
  }
  var Instance: {
    prototype: Instance;
    new (module: Module, importObject?: Imports): Instance;
  };

  interface Memory {
    readonly buffer: ArrayBuffer;
    grow(delta: number): number;
  }
  var Memory: {
    prototype: Memory;
    new (descriptor: MemoryDescriptor): Memory;
  };
  interface MemoryDescriptor {
    initial: number;
    maximum?: number;
    shared?: boolean;
  }

  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface Module {}
  var Module: {
    prototype: Module;
    new (bytes: ArrayBufferView | ArrayBuffer): Module;
  };

  type ExportValue = ((...args: never[]) => unknown) | Memory;
  type Exports = Record<string, ExportValue>;
  type ImportValue = ExportValue | number;
  type ModuleImports = Record<string, ImportValue>;
  type Imports = Record<string, ModuleImports>;

  function compile(bytes: ArrayBufferView | ArrayBuffer): Promise<Module>;
  function instantiate(moduleObject: Module, importObject?: Imports): Promise<Instance>;
  function validate(bytes: ArrayBufferView | ArrayBuffer): boolean;
}
