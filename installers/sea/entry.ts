/**
 * The single executable's entry (bundled by installers/build.sh with esbuild into one CommonJS
 * file, the SEA's main script). `./unpack.js` runs first — ES modules evaluate in import order —
 * so the build info, the package root and the native folder are in place before any of kyoka's
 * modules look for them; then the `kyoka` command line runs as from a checkout.
 */
import "./unpack.js";
import "../../cli/main.js";
