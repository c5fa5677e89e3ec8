/** The package's version: the project's (vibepass.Version in the Go module; TestPackagesCarryTheProjectVersion keeps them equal). */
export const VERSION = '0.1.0'
