-- CreateTable
CREATE TABLE "AlertRule" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "teamId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "options" TEXT NOT NULL,
    "hostIds" TEXT,
    "containers" TEXT,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "quietSeconds" INTEGER NOT NULL DEFAULT 300,
    "mutedUntil" DATETIME,
    "webhookKind" TEXT,
    "webhookUrl" TEXT,
    "webhookHint" TEXT,
    "lastDeliveryAt" DATETIME,
    "lastDeliveryResult" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "AlertRule_teamId_fkey" FOREIGN KEY ("teamId") REFERENCES "Team" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "Alert" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "ruleId" TEXT NOT NULL,
    "teamId" TEXT NOT NULL,
    "hostId" TEXT,
    "subject" TEXT NOT NULL,
    "openKey" TEXT,
    "title" TEXT NOT NULL,
    "detail" TEXT NOT NULL,
    "openedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "resolvedAt" DATETIME,
    "notified" BOOLEAN NOT NULL DEFAULT false,
    "delivery" TEXT NOT NULL DEFAULT 'none',
    "deliveryAttempts" INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT "Alert_ruleId_fkey" FOREIGN KEY ("ruleId") REFERENCES "AlertRule" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateIndex
CREATE INDEX "AlertRule_teamId_idx" ON "AlertRule"("teamId");

-- CreateIndex
CREATE UNIQUE INDEX "Alert_openKey_key" ON "Alert"("openKey");

-- CreateIndex
CREATE INDEX "Alert_teamId_openedAt_idx" ON "Alert"("teamId", "openedAt");

-- CreateIndex
CREATE INDEX "Alert_ruleId_subject_idx" ON "Alert"("ruleId", "subject");
