// Svelte attachment that shows a <dialog> modally while `isOpen()` is true; re-runs when that changes.
export function modal(isOpen: () => boolean): (dialog: HTMLDialogElement) => void {
  return (dialog) => {
    if (isOpen() && !dialog.open) dialog.showModal();
    else if (!isOpen() && dialog.open) dialog.close();
  };
}
