-- CreateTable
CREATE TABLE "GitStack" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "hostId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "branch" TEXT NOT NULL,
    "composePath" TEXT NOT NULL,
    "envPath" TEXT,
    "username" TEXT,
    "token" TEXT,
    "pollSeconds" INTEGER NOT NULL DEFAULT 0,
    "webhookSecret" TEXT NOT NULL,
    "lastCommit" TEXT,
    "lastDeployAt" DATETIME,
    "lastCheckAt" DATETIME,
    "lastError" TEXT,
    "failures" INTEGER NOT NULL DEFAULT 0,
    "nextCheckAt" DATETIME,
    "requestedAt" DATETIME,
    "lockedUntil" DATETIME,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "GitStack_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateIndex
CREATE UNIQUE INDEX "GitStack_hostId_name_key" ON "GitStack"("hostId", "name");
