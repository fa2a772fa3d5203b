/**
 * The test files that shut the shared wineserver down (`wineShutdown()`, `withRemovableK()` in
 * test/helpers/wine.ts: to change Wine's drives or to install an MSI). vitest.config.ts runs them
 * after the other files and one at a time: beside another Wine test they kill its Windows
 * processes. test/lib/wine-restarting.test.ts checks that the list is complete.
 */
export const WINE_RESTARTING = ["test/installers/msi.test.ts", "test/e2e/windows-media-wine.test.ts", "test/e2e/windows-readonly-wine.test.ts"];
