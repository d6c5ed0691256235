// The read-only viewer page (`/?session=ID&view=TOKEN`), loaded by main.ts as a chunk of its own.
import { mount } from 'svelte';
import ViewerApp from './components/ViewerApp.svelte';
import type { ShareParams } from './lib/shareParams.js';
import { ViewerState } from './state/viewer.svelte.js';

export function mountViewer(target: HTMLElement, link: ShareParams): void {
  mount(ViewerApp, { target, props: { viewer: new ViewerState(link) } });
}
