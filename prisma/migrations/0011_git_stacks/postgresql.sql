-- CreateTable
CREATE TABLE "GitStack" (
    "id" TEXT NOT NULL,
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
    "lastDeployAt" TIMESTAMP(3),
    "lastCheckAt" TIMESTAMP(3),
    "lastError" TEXT,
    "failures" INTEGER NOT NULL DEFAULT 0,
    "nextCheckAt" TIMESTAMP(3),
    "requestedAt" TIMESTAMP(3),
    "lockedUntil" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "GitStack_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "GitStack_hostId_name_key" ON "GitStack"("hostId", "name");

-- AddForeignKey
ALTER TABLE "GitStack" ADD CONSTRAINT "GitStack_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host"("id") ON DELETE CASCADE ON UPDATE CASCADE;
