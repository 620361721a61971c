// The npm package of ONNX Runtime for Node and the version the ONNX export is checked with. Optional:
// `automl install-runtime --onnx` puts it in the runtime folder; prediction then runs exported ONNX
// models in it (src/engine/model/onnx-runtime.ts). No tfjs import here.
export const ONNXRUNTIME_PACKAGE = 'onnxruntime-node';
export const ONNXRUNTIME_VERSION = '1.31.1';
