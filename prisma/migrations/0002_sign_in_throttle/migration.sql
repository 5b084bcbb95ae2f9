-- CreateTable
CREATE TABLE "SignInThrottle" (
    "key" TEXT NOT NULL PRIMARY KEY,
    "failures" INTEGER NOT NULL,
    "lastFailure" DATETIME NOT NULL,
    "blockedUntil" DATETIME,
    "auditedBlock" DATETIME
);
