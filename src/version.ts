/** The release of all three programs; a unit test keeps it equal to package.json's version. */
export const VERSION = '0.1.0';
