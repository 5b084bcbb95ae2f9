-- Labels an admin gives a host (JSON text of a string map), for the fleet overview's filter.
ALTER TABLE "Host" ADD COLUMN "labels" TEXT;
