// The Docker Engine API versions the agent's socket speaks (Docker 28's range); the dashboard shows them too.
export const DOCKER_API_VERSION = '1.50';
export const DOCKER_MIN_API_VERSION = '1.24';
