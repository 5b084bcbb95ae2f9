// The Docker Engine API versions the agent's socket speaks; the dashboard shows them too.
export const DOCKER_API_VERSION = '1.41';
export const DOCKER_MIN_API_VERSION = '1.24';
