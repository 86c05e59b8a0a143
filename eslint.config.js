import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/**
 * The layers of src/, bottom first: a module may import its own folder and any folder on a lower
 * level, never one on its own level or above. src/index.ts and src/cli.ts sit on top of all.
 */
export const LAYERS = [
  ['core'],
  ['format', 'native'],
  ['proc'],
  ['snapshot', 'walk'],
  ['analyses'],
  ['actions', 'serve'],
  ['cli'],
];

/** One no-restricted-imports block per folder: the folders (and native.ts) it must not reach. */
function layerRules() {
  const levelOf = new Map(LAYERS.flatMap((names, level) => names.map((name) => [name, level])));
  const target = (name) => (name === 'native' ? ['../native.js'] : [`../${name}/*`]);
  return [...levelOf].map(([name, level]) => {
    const forbidden = [...levelOf]
      .filter(([other, l]) => other !== name && l >= level)
      .map(([other]) => other);
    const files = name === 'native' ? ['src/native.ts'] : [`src/${name}/**/*.ts`];
    const patterns = [
      ...forbidden.flatMap((other) =>
        target(other).map((group) => ({
          group: [group],
          message: `src/${name} sits below or beside src/${other}: imports point down the layers (eslint.config.js, LAYERS).`,
        })),
      ),
      {
        group: ['../index.js', '../cli.js'],
        message: 'the entry points import the layers, never the reverse.',
      },
    ];
    return { files, rules: { 'no-restricted-imports': ['error', { patterns }] } };
  });
}

export default tseslint.config(
  { ignores: ['dist/', '.test-build/', 'build/', 'node_modules/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  ...layerRules(),
  {
    // `limbo --help` reads every command's declaration: those must load no command, no analysis.
    files: ['src/cli/specs/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../../*/*', '!../../analyses/choices.js', '../*-command.js'],
              allowTypeImports: true,
              message: 'option declarations stay light: import types, or the words in analyses/choices.ts.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/serve/assets/**/*.js'],
    languageOptions: { sourceType: 'script', globals: { ...globals.browser, uPlot: 'readonly' } },
  },
);
