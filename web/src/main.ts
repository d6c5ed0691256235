import { mount } from 'svelte';
import App from './App.svelte';
import ViewerApp from './components/ViewerApp.svelte';
import { adoptTokenFromUrl } from './lib/credentials.js';
import { parseShareParams } from './lib/shareParams.js';
import { ViewerState } from './state/viewer.svelte.js';
import './app.css';

const target = document.getElementById('app');
if (!target) throw new Error('nsconsole: #app is missing from index.html');
// `/?token=…` logs in: the token moves into origin-scoped storage and out of the address bar, before anything runs.
adoptTokenFromUrl();
// `/?session=ID&view=TOKEN` is a read-only share link: the viewer page, which never calls the owner's API.
const link = parseShareParams(location.search);
if (link) mount(ViewerApp, { target, props: { viewer: new ViewerState(link) } });
else mount(App, { target });
