-- AlterTable
ALTER TABLE "Session" ADD COLUMN "teamId" TEXT;

-- AlterTable
ALTER TABLE "Team" ADD COLUMN "auditRetentionDays" INTEGER;

-- AlterTable
ALTER TABLE "Team" ADD COLUMN "deletedAt" TIMESTAMP(3);

-- AlterTable
ALTER TABLE "AuditLog" ADD COLUMN "address" TEXT;

-- AlterTable
ALTER TABLE "Membership" ADD COLUMN "narrowed" BOOLEAN NOT NULL DEFAULT false;

-- CreateTable
CREATE TABLE "MembershipHost" (
    "membershipId" TEXT NOT NULL,
    "hostId" TEXT NOT NULL,

    PRIMARY KEY ("membershipId", "hostId"),
    CONSTRAINT "MembershipHost_membershipId_fkey" FOREIGN KEY ("membershipId") REFERENCES "Membership" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "MembershipHost_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateIndex
CREATE INDEX "MembershipHost_hostId_idx" ON "MembershipHost"("hostId");

-- CreateTable
CREATE TABLE "Registry" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "teamId" TEXT NOT NULL,
    "server" TEXT NOT NULL,
    "username" TEXT NOT NULL,
    "secret" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Registry_teamId_fkey" FOREIGN KEY ("teamId") REFERENCES "Team" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateIndex
CREATE UNIQUE INDEX "Registry_teamId_server_key" ON "Registry"("teamId", "server");

-- CreateIndex
CREATE INDEX "AuditLog_createdAt_idx" ON "AuditLog"("createdAt");
