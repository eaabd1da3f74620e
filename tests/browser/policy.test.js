// The pages read the numbers the policy owns from GET /api/policy/public: an
// admin's change shows in the live feedback, and a page that cannot ask says no
// number while the server still enforces the rule. Its own app: the policy changes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { admin, clean, EMAIL, heading, lastCode, openPage, PASSWORD, useAppAndBrowser } from './lib.js';

const env = useAppAndBrowser();

async function setPolicy(change) {
  const policy = await admin(env.app, 'GET', '/policy');
  change(policy);
  await admin(env.app, 'PUT', '/policy', policy);
}

describe('the pages use the server policy', () => {
  test('the default minimum, then an admin raises it: change-password follows', async () => {
    let page = await openPage(env.browser);
    await page.goto(`${env.app.base}/change-password`);
    await page.getByText('Use at least 8 characters.').waitFor();
    await page.getByLabel('Create new password', { exact: true }).fill('short');
    assert.match(await page.textContent('#pw-length'), /5 of at least 8 characters/);
    clean(page);
    await page.close();

    await setPolicy((p) => { p.password.min_length = 12; });
    page = await openPage(env.browser);
    await page.goto(`${env.app.base}/change-password`);
    await page.getByText('Use at least 12 characters.').waitFor();
    const input = page.getByLabel('Create new password', { exact: true });
    await input.fill('ten-chars!');
    assert.match(await page.textContent('#pw-length'), /10 of at least 12 characters/);
    // The page's own check before sending uses the same minimum.
    await page.getByLabel('User ID', { exact: true }).fill('chris');
    await page.getByLabel('Old password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Confirm new password', { exact: true }).fill('ten-chars!');
    await page.getByRole('button', { name: 'Save' }).click();
    assert.match(await page.textContent('#change-err'), /needs at least 12 characters/);
    await input.fill('twelve-chars');
    assert.match(await page.textContent('#pw-length'), /Long enough \(12 characters\)/);
    clean(page);
    await page.close();
  });

  test('reset: the code lifetime and the minimum come from the policy', async () => {
    await setPolicy((p) => { p.password.min_length = 12; p.code_lifetime_seconds = 120; p.flow_lifetime_seconds = 600; });
    const page = await openPage(env.browser, 360);
    await page.goto(`${env.app.base}/reset`);
    const read = await page.evaluate(async () => (await import('/js/api.js')).publicPolicy());
    assert.deepEqual(read, { passwordMin: 12, passwordMax: 256, codeLifetime: 120, flowLifetime: 600 });
    await page.getByLabel('User ID').fill('jane');
    await page.getByRole('button', { name: 'Next' }).click();
    await heading(page, 'Verification step 1');
    await page.getByRole('radio', { name: /Email my alternate email/ }).check();
    await page.getByLabel(/Enter your full/).fill(EMAIL);
    await page.getByRole('button', { name: 'Email', exact: true }).click();
    await heading(page, 'Enter your verification code');
    assert.match(await page.textContent('#code-text'), /It expires in 2 minutes\./);
    await page.getByLabel('Verification code', { exact: true }).fill(await lastCode(env.app, 'jane.doe'));
    await page.getByRole('button', { name: 'Next' }).click();
    await heading(page, 'Choose a new password');
    assert.match(await page.textContent('#step-password'), /Use at least 12 characters\. Avoid common passwords/);
    await page.getByLabel('Enter new password').fill('ten-chars!');
    assert.match(await page.textContent('#pw-length'), /10 of at least 12 characters/);
    clean(page);
    await page.close();
  });

  test('a challenge refused by the identify limit says so and leaves Next usable', async () => {
    // Challenges are what the per-address identify limit counts.
    await setPolicy((p) => { p.throttles.identify_per_minute = 1; });
    const pages = [];
    try {
      // The first page takes the minute's one challenge; the next is refused (a third
      // only if the minute turned between the two).
      let refused = null;
      for (let i = 0; i < 3 && !refused; i += 1) {
        const page = await openPage(env.browser);
        pages.push(page);
        await page.goto(`${env.app.base}/reset`);
        const check = page.locator('#pow-text');
        await page.waitForFunction(() => !/not a robot…$/.test(document.querySelector('#pow-text').textContent));
        if (/Too many attempts/.test(await check.textContent())) refused = page;
      }
      assert.ok(refused, 'a challenge past the limit is refused');
      assert.match(await refused.textContent('#pow-text'), /Too many attempts\. Please wait \d+ (seconds?|minute) and try again\./);
      await refused.getByLabel('User ID').fill('jane');
      await refused.getByRole('button', { name: 'Next' }).click();
      await refused.locator('#who-err p').waitFor();
      assert.match(await refused.textContent('#who-err'), /Too many attempts\. Please wait/);
      assert.equal(await refused.getByRole('button', { name: 'Next' }).isEnabled(), true, 'Next is not left busy');
      for (const page of pages) clean(page);
    } finally {
      for (const page of pages) await page.close();
      await setPolicy((p) => { p.throttles.identify_per_minute = 1000; });
    }
  });

  test('when the policy cannot be read, no number is shown and the server still refuses a short password', async () => {
    await setPolicy((p) => { p.password.min_length = 12; });
    const page = await openPage(env.browser);
    await page.route('**/api/policy/public', (route) => route.abort());
    await page.goto(`${env.app.base}/change-password`);
    await page.getByText('Use a long password.').waitFor();
    await page.getByLabel('User ID', { exact: true }).fill('kim');
    await page.getByLabel('Old password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Create new password', { exact: true }).fill('ten-chars!');
    assert.equal(await page.textContent('#pw-length'), '10 characters.');
    await page.getByLabel('Confirm new password', { exact: true }).fill('ten-chars!');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#change-err li[data-rule="too_short"]').waitFor();
    clean(page);
    await page.close();
  });
});
