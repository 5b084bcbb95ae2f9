'use client';
// The container page's log: the viewer in app/components/logs/ over one container's stream.
export { LogViewer } from './logs/log-viewer';
export type { LogViewSource, LogViewerProps } from './logs/log-viewer';
