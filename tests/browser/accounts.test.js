// Registration (sign in, phone; then, with a method registered, the step-up
// before email and security questions; finish), an office phone registered by a
// "press #" call, and change password, in headless chromium.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { axe, failThenPassCall, call, clean, focused, heading, lastCode, openPage, outbox, PASSWORD, screenshot, useAppAndBrowser, wrongCode } from './lib.js';

const env = useAppAndBrowser();

describe('register for password reset', () => {
  test('sign in, then phone (a wrong code first), the step-up with that phone, email and questions, then finish', async () => {
    const page = await openPage(env.browser);
    await page.goto(`${env.app.base}/register`);
    await page.getByLabel('User ID', { exact: true }).fill('nora');
    await page.getByLabel('Password', { exact: true }).fill('not-her-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('Your user ID or password is incorrect.').waitFor();
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await heading(page, "Don't lose access to your account!");
    assert.equal(await focused(page), 'status-h');
    assert.match(await page.textContent('#tally'), /0 of the 1 method/);
    assert.ok(await page.locator('#backup').isVisible(), 'the backup-method advice is shown');
    assert.deepEqual(await axe(page), [], 'status step');
    await screenshot(page, 'register-status-1280');
    // Finishing early says what is still needed.
    await page.getByRole('button', { name: 'Finish' }).click();
    await page.getByText('You need to set up 1 more method').waitFor();

    // Authentication phone, by text; a wrong code, then the right one.
    await page.getByRole('button', { name: 'Set it up now: Authentication phone' }).click();
    await heading(page, 'Authentication phone');
    await page.getByLabel('Country code', { exact: true }).selectOption('1');
    await page.getByLabel('Phone number', { exact: true }).fill('425 555 0123');
    await page.getByRole('button', { name: 'Text me' }).click();
    await heading(page, 'Enter the code you received');
    assert.deepEqual(await axe(page), [], 'code step');
    const code = await lastCode(env.app, '4255550123');
    await page.getByLabel('Verification code', { exact: true }).fill(wrongCode(code));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.locator('#code-err p').waitFor();
    assert.match(await page.textContent('#code-err'), /That code isn't right/);
    await page.getByLabel('Verification code', { exact: true }).fill(code);
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByText('Authentication phone verified and saved.').waitFor();
    assert.match(await page.textContent('[data-method="authentication_phone"]'), /Set up: .*23 \(text\)/);
    assert.match(await page.textContent('#tally'), /set up 1 method/);

    // Alternate email: with a phone registered, the server asks for a step-up first,
    // and the page walks it with the phone (a mistyped number first), then retries.
    await page.getByRole('button', { name: 'Set it up now: Alternate email' }).click();
    await heading(page, 'Alternate email');
    await page.getByLabel('Email address', { exact: true }).fill('nora.private@fabrikam.com');
    await page.getByRole('button', { name: 'Email me' }).click();
    await heading(page, "Verify it's you");
    assert.equal(await focused(page), 'verify-h');
    await page.getByRole('radio', { name: /Text my mobile phone/ }).check();
    assert.match(await page.textContent('#sv-options'), /\+1 •••• ••23/, 'the existing phone, masked');
    assert.deepEqual(await axe(page), [], 'step-up step');
    await screenshot(page, 'register-step-up-1280');
    const full = page.getByLabel('Enter your full phone number, including the country code');
    await full.fill('+1 425 555 0000');
    await page.getByRole('button', { name: 'Send code' }).click();
    await page.getByText('That does not match').waitFor();
    assert.equal(await full.getAttribute('aria-invalid'), 'true');
    await full.fill('+1 425 555 0123');
    await page.getByRole('button', { name: 'Send code' }).click();
    await heading(page, 'Enter the code you received');
    await page.getByLabel('Verification code', { exact: true }).fill(await lastCode(env.app, '4255550123'));
    await page.getByRole('button', { name: 'Verify' }).click();
    // Stepped up: the change is retried, and the new address gets its own code.
    await page.getByText("We've emailed a code to nora.private@fabrikam.com").waitFor();
    await heading(page, 'Enter the code you received');
    await page.getByLabel('Verification code', { exact: true }).fill(await lastCode(env.app, 'nora.private'));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByText('Alternate email verified and saved.').waitFor();
    // The phone registered before heard of the change.
    assert.match((await outbox(env.app, '4255550123')).body, /Your security info changed: the alternate email .* was added\. If this wasn't you, contact your administrator/);

    // Security questions: a question chosen twice is caught before sending.
    await page.getByRole('button', { name: 'Set it up now: Security questions' }).click();
    await heading(page, 'Security questions');
    const selects = page.locator('#q-list select');
    const n = await selects.count();
    assert.ok(n >= 3);
    for (let i = 0; i < n; i += 1) {
      await selects.nth(i).selectOption({ index: 1 });
      await page.locator(`#a-${i}`).fill(`Nora answer ${i + 1}`);
    }
    await page.getByRole('button', { name: 'Save answers' }).click();
    await page.getByText('is chosen twice').waitFor();
    assert.deepEqual(await axe(page), [], 'questions step');
    await screenshot(page, 'register-questions-1280');
    for (let i = 0; i < n; i += 1) await selects.nth(i).selectOption({ index: i + 1 });
    await page.getByRole('button', { name: 'Save answers' }).click();
    await page.getByText('Security questions saved.').waitFor();
    assert.match(await page.textContent('[data-method="security_questions"]'), /3 questions answered/);
    await page.setViewportSize({ width: 360, height: 780 });
    await screenshot(page, 'register-status-360');
    await page.setViewportSize({ width: 1280, height: 900 });

    // The session lives in an HttpOnly cookie: a reload goes straight to the status.
    await page.reload();
    await heading(page, "Don't lose access to your account!");
    assert.equal(await page.evaluate(() => document.cookie), '', 'the session cookie is HttpOnly');
    assert.equal(await page.evaluate(() => localStorage.length + sessionStorage.length), 0);

    await page.getByRole('button', { name: 'Finish' }).click();
    await heading(page, "You're all set");
    const done = await page.textContent('#done-list');
    assert.match(done, /Authentication phone/);
    assert.match(done, /Alternate email/);
    assert.match(done, /Security questions/);
    await screenshot(page, 'register-done-1280');
    clean(page);
    await page.close();
  });

  test('an office phone by a "press #" call: the page polls, offers "Call again" after another key, and # saves it', async () => {
    await env.browser.context.clearCookies(); // the previous test's session
    const page = await openPage(env.browser);
    await page.goto(`${env.app.base}/register`);
    await page.getByLabel('User ID', { exact: true }).fill('bare');
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await heading(page, "Don't lose access to your account!");
    await page.getByRole('button', { name: 'Set it up now: Office phone' }).click();
    await heading(page, 'Office phone');
    assert.match(await page.textContent('#contact-text'), /answer and press #/);
    await page.getByLabel('Country code', { exact: true }).selectOption('1');
    await page.getByLabel('Phone number', { exact: true }).fill('425 555 0100');
    await page.getByRole('button', { name: 'Call me' }).click();
    await heading(page, 'Answer the call');
    assert.match(await page.textContent('#call-text'), /We're calling \+1 [•\s]+00\. Answer and press #/);
    const said = await outbox(env.app, '4255550100');
    assert.equal(said.channel, 'voice');
    assert.ok(said.callback_url, 'a call, answered through its callback');
    assert.ok(!/\d/.test(said.body), 'the call reads out no code');
    assert.deepEqual(await axe(page), [], 'the call step');
    await screenshot(page, 'register-call-1280');
    // Another key: the poll answers 410, and the page offers "Call again".
    await failThenPassCall(page, env.app);
    await page.getByText('Office phone verified and saved.').waitFor();
    assert.match(await page.textContent('[data-method="office_phone"]'), /Set up: \+1 [•\s]+00/);
    assert.match(await page.textContent('#tally'), /set up 1 method/);
    clean(page);
    await page.close();
  });
});

describe('change password', () => {
  test('a wrong old password, a policy violation, then saved; the new password signs in', async () => {
    const page = await openPage(env.browser, 360);
    await page.goto(`${env.app.base}/change-password`);
    await page.getByLabel('User ID', { exact: true }).fill('chris');
    await page.getByLabel('Old password', { exact: true }).fill('Wrong-password-1');
    await page.getByLabel('Create new password', { exact: true }).fill('Saffron-glacier-pilot-64');
    await page.getByLabel('Confirm new password', { exact: true }).fill('Saffron-glacier-pilot-64');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Your user ID or old password is incorrect').waitFor();
    assert.equal(await focused(page), 'old');
    // A password with the user ID in it breaks a rule the server checks.
    await page.getByLabel('Old password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Create new password', { exact: true }).fill('chris-password');
    await page.getByLabel('Confirm new password', { exact: true }).fill('chris-password');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#change-err li').first().waitFor();
    assert.match(await page.textContent('#change-err'), /doesn't meet the password rules/);
    await screenshot(page, 'change-password-policy-360');
    await page.getByLabel('Old password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Create new password', { exact: true }).fill('Saffron-glacier-pilot-64');
    await page.getByLabel('Confirm new password', { exact: true }).fill('Saffron-glacier-pilot-64');
    await page.getByRole('button', { name: 'Save' }).click();
    await heading(page, 'Your password has been changed');
    assert.equal(await focused(page), 'done-h');
    clean(page);
    await page.close();
    assert.equal((await call(env.app, '/api/signin', { username: 'chris', password: 'Saffron-glacier-pilot-64' })).status, 200);
    assert.equal((await call(env.app, '/api/signin', { username: 'chris', password: PASSWORD })).status, 401);
  });
});
