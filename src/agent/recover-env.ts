/** The one-shot environment file of a recovery start, in the agent's state dir (see recover.ts). */
export const RECOVER_ENV_FILE = 'chainfire-recover.env';
