// The product version, from package.json (esbuild bundles the one field; tsc resolves the JSON).
import { version } from '../../package.json';

export const PRODUCT_VERSION: string = version;
