/** Data attached to notebooks: the metadata model, the kernel code and the Notebook data panel. */
export * from './approvals';
export * from './attachments';
export * from './AttachmentsPanel';
export * from './kernelCode';
