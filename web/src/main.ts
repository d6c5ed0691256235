import { mount } from 'svelte';
import App from './App.svelte';
import { adoptTokenFromUrl } from './lib/credentials.js';
import { parseShareParams } from './lib/shareParams.js';
import './app.css';

const target = document.getElementById('app');
if (!target) throw new Error('nsconsole: #app is missing from index.html');
// `/?token=…` logs in: the token moves into origin-scoped storage and out of the address bar, before anything runs.
adoptTokenFromUrl();
// `/?session=ID&view=TOKEN` is a read-only share link: the viewer page, which never calls the owner's API.
const link = parseShareParams(location.search);
// It is fetched only then (a chunk of its own): the console's first load does not carry it.
if (link) {
  void import('./viewer.js').then(
    ({ mountViewer }) => mountViewer(target, link),
    (e: unknown) => {
      target.textContent = `nsconsole: the viewer could not be loaded (${e instanceof Error ? e.message : String(e)}); reload the page.`;
    },
  );
} else mount(App, { target });
