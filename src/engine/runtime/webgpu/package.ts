// The npm package that brings Dawn (WebGPU for Node) and the version the project was checked with
// (on an NVIDIA H100 through Vulkan). No tfjs import here: the installer and the host use it.
export const WEBGPU_PACKAGE = 'webgpu';
export const WEBGPU_VERSION = '0.6.2';
