// Svelte compiles <script lang="ts"> (type annotations only) without a preprocessor; runes everywhere.
export default {
  compilerOptions: { runes: true },
};
