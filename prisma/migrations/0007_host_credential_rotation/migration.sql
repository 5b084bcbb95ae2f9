-- AlterTable
ALTER TABLE "Host" ADD COLUMN "pendingCredentialHash" TEXT;
ALTER TABLE "Host" ADD COLUMN "pendingCredentialAt" DATETIME;
