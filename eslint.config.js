// Import boundaries are the architecture: they are enforced here, not by convention.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const pkcs11 = { name: 'pkcs11js', message: 'Only hsm/ talks PKCS#11; use the Signer / KeyStore / pool interfaces.' };
const koa = ['koa', '@koa/router'].map((name) => ({ name, message: 'Koa belongs in HTTP modules (**/http/**).' }));
const knex = ['knex', 'knex-pglite', 'pg', 'pg-copy-streams', '@electric-sql/pglite'].map((name) => ({
  name,
  message: 'The database is reached only from data-access modules (**/db/**) and migrations/.',
}));

function restrict(paths, patterns = []) {
  return { 'no-restricted-imports': ['error', { paths, patterns }] };
}

export default tseslint.config(
  { ignores: ['node_modules/**', 'var/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  // Everything outside hsm/: no PKCS#11, no Koa outside http/, no knex outside db/.
  { files: ['**/*.ts', '**/*.mjs', '**/*.js'], rules: restrict([pkcs11, ...koa, ...knex]) },
  { files: ['hsm/**'], rules: restrict([...koa, ...knex], [{ group: ['../ca/*', '../ocsp/*', '../ca', '../ocsp'], message: 'hsm/ depends on nothing above it.' }]) },
  { files: ['**/http/**'], rules: restrict([pkcs11, ...knex]) },
  { files: ['**/db/**', 'migrations/**'], rules: restrict([pkcs11, ...koa]) },
  { files: ['migrations/**'], rules: restrict([pkcs11, ...koa], [{ group: ['../*'], message: 'Migrations import no app code.' }]) },
  { files: ['ocsp/**'], rules: restrict([pkcs11, ...koa, ...knex], [{ group: ['**/ca/**', '../ca', '../../ca'], message: 'ocsp/ never imports ca/.' }]) },
  { files: ['ocsp/**/http/**'], rules: restrict([pkcs11, ...knex], [{ group: ['**/ca/**', '../ca', '../../ca'], message: 'ocsp/ never imports ca/.' }]) },
  { files: ['ocsp/**/db/**'], rules: restrict([pkcs11, ...koa], [{ group: ['**/ca/**', '../ca', '../../ca'], message: 'ocsp/ never imports ca/.' }]) },
  // Tests may reach PKCS#11 directly to inspect what the token really holds; fault wrappers live there too.
  { files: ['test/**', 'bench/**'], rules: { 'no-restricted-imports': 'off' } },
);
