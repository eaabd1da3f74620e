// The reset and unlock journeys, Entra's guide's error cases, and every page's
// accessibility, size and screenshots, in headless chromium.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { axe, failThenPassCall, clean, EMAIL, focused, heading, lastCode, MOBILE, openPage, screenshot, useAppAndBrowser, wrongCode } from './lib.js';

const env = useAppAndBrowser();

async function who(page, purpose, username) {
  await page.goto(`${env.app.base}/${purpose}`);
  await page.getByLabel('User ID').fill(username);
  await page.getByRole('button', { name: 'Next' }).click();
}

async function pickAndSend(page, label, destination, button) {
  await page.getByRole('radio', { name: label }).check();
  if (destination !== undefined) await page.getByLabel(/Enter your full/).fill(destination);
  await page.getByRole('button', { name: button, exact: true }).click();
}

async function enterCode(page, code) {
  await page.getByLabel('Verification code', { exact: true }).fill(code);
  await page.getByRole('button', { name: 'Next' }).click();
}

describe('reset', () => {
  test('one gate: masked hints, destination check, a wrong code then the right one, a policy violation, success', async () => {
    const page = await openPage(env.browser);
    await page.goto(`${env.app.base}/reset`);
    // The proof-of-work runs in a worker while the user types, with a visible state.
    await page.getByText("Done: you're not a robot.").waitFor();
    await who(page, 'reset', 'jane');
    await heading(page, 'Verification step 1');
    assert.equal(await focused(page), 'method-h', 'focus moves to the new step heading');
    // Masked hints, never the full destination.
    const body = await page.textContent('#options');
    assert.match(body, /Email my alternate email/);
    assert.match(body, /Text my mobile phone/);
    assert.match(body, /Answer my security questions/);
    assert.ok(!body.includes(EMAIL) && !body.includes('555-0112'), 'hints are masked');
    assert.match(body, /•/);
    await screenshot(page, 'reset-method-1280');
    // A wrong address sends nothing and says so.
    await pickAndSend(page, /Email my alternate email/, 'someone.else@fabrikam.com', 'Email');
    await page.getByText("doesn't match the one we have").waitFor();
    await page.getByLabel(/Enter your full/).fill(EMAIL);
    await page.getByRole('button', { name: 'Email', exact: true }).click();
    await heading(page, 'Enter your verification code');
    assert.equal(await focused(page), 'code-h');
    assert.equal(await page.getByRole('button', { name: 'Resend code' }).isDisabled(), true, 'resend waits for a cooldown');
    await page.getByText(/ask for a new code in \d+ s/).waitFor();
    const code = await lastCode(env.app, 'jane.doe');
    await enterCode(page, wrongCode(code));
    await page.getByText("That code isn't right").waitFor();
    assert.match(await page.textContent('#code-err'), /4 tries left/);
    assert.equal(await page.getAttribute('#code', 'aria-invalid'), 'true');
    await enterCode(page, code);
    await heading(page, 'Choose a new password');
    assert.equal(await focused(page), 'pw-h');
    // Live feedback on length and match as the user types.
    await page.getByLabel('Enter new password').fill('short');
    assert.match(await page.textContent('#pw-length'), /5 of at least 8 characters/);
    await page.getByLabel('Enter new password').fill('password');
    await page.getByLabel('Confirm new password').fill('passwort');
    assert.match(await page.textContent('#pw-match'), /don't match/);
    await page.getByRole('button', { name: 'Finish' }).click();
    assert.match(await page.textContent('#pw-err'), /don't match/);
    // A common password passes the local checks; the server's 422 is shown rule by rule.
    await page.getByLabel('Confirm new password').fill('password');
    await page.getByRole('button', { name: 'Finish' }).click();
    await page.locator('#pw-err li[data-rule="common_password"]').waitFor();
    assert.match(await page.textContent('#pw-err'), /doesn't meet the password rules/);
    await screenshot(page, 'reset-policy-1280');
    await page.getByLabel('Enter new password').fill('Harbour-lantern-velvet-31');
    await page.getByLabel('Confirm new password').fill('Harbour-lantern-velvet-31');
    await page.getByRole('button', { name: 'Finish' }).click();
    await heading(page, 'Your password has been reset');
    assert.equal(await focused(page), 'done-h');
    assert.ok(!page.url().includes('flow'), 'no flow id in the URL');
    assert.equal(await page.evaluate(() => localStorage.length + sessionStorage.length), 0, 'nothing in web storage');
    await screenshot(page, 'reset-done-1280');
    clean(page);
    await page.close();
  });

  test('a "press #" call: the page polls, offers "Call again" after another key, and # passes', async () => {
    const page = await openPage(env.browser);
    await who(page, 'reset', 'cal');
    await heading(page, 'Verification step 1');
    await pickAndSend(page, /Call my mobile phone/, MOBILE, 'Call');
    await heading(page, 'Answer the call');
    assert.match(await page.textContent('#call-text'), /We're calling \+1 [•\s]+12\. Answer and press #/);
    const said = (await (await fetch(`${env.app.base}/api/dev/outbox`)).json()).messages[0];
    assert.equal(said.channel, 'voice');
    assert.ok(!/\d/.test(said.body), 'the call reads out no code');
    assert.deepEqual(await axe(page), [], 'the call step');
    await screenshot(page, 'reset-call-1280');
    await failThenPassCall(page, env.app);
    await heading(page, 'Choose a new password');
    clean(page);
    await page.close();
  });

  test('two gates (an admin): a second, different method', async () => {
    const page = await openPage(env.browser, 360);
    await who(page, 'reset', 'adele');
    await heading(page, 'Verification step 1 of 2');
    assert.equal(await page.getByRole('radio', { name: /security questions/ }).count(), 0, 'admins may not use questions');
    await pickAndSend(page, /Text my mobile phone/, MOBILE, 'Text');
    await heading(page, 'Enter your verification code');
    await enterCode(page, await lastCode(env.app, '4255550112'));
    await heading(page, 'Verification step 2 of 2');
    assert.match(await page.textContent('#method-intro'), /additional verification step/);
    assert.equal(await page.getByRole('radio', { name: /Text my mobile phone/ }).count(), 0, 'the used method is gone');
    assert.equal(await page.getByRole('radio', { name: /Call my mobile phone/ }).count(), 0, 'so is the same phone by call');
    await screenshot(page, 'reset-second-gate-360');
    await pickAndSend(page, /Email my alternate email/, EMAIL, 'Email');
    await heading(page, 'Enter your verification code');
    await enterCode(page, await lastCode(env.app, 'jane.doe'));
    await heading(page, 'Choose a new password');
    await page.getByLabel('Enter new password').fill('Quartz-meadow-tundra-88');
    await page.getByLabel('Confirm new password').fill('Quartz-meadow-tundra-88');
    await page.getByRole('button', { name: 'Finish' }).click();
    await heading(page, 'Your password has been reset');
    clean(page);
    await page.close();
  });

  test('resend after the cooldown: the new code works, the old one no longer does', async () => {
    const page = await openPage(env.browser, 360);
    await page.clock.install();
    await who(page, 'reset', 'rita');
    await heading(page, 'Verification step 1');
    await pickAndSend(page, /Email my alternate email/, EMAIL, 'Email');
    await heading(page, 'Enter your verification code');
    const first = await lastCode(env.app, 'jane.doe');
    const resend = page.getByRole('button', { name: 'Resend code' });
    assert.equal(await resend.isDisabled(), true);
    await page.clock.runFor('00:31');
    await page.getByText('You can ask for a new code now.').waitFor();
    assert.equal(await resend.isDisabled(), false);
    await resend.click();
    await page.getByText('We sent a new code.').waitFor();
    assert.equal(await resend.isDisabled(), true, 'a new cooldown starts');
    const second = await lastCode(env.app, 'jane.doe');
    await screenshot(page, 'reset-code-360');
    if (second !== first) {
      await enterCode(page, first);
      await page.getByText("That code isn't right").waitFor();
    }
    await enterCode(page, second);
    await heading(page, 'Choose a new password');
    clean(page);
    await page.close();
  });

  test('keyboard only: every step reachable and operable without a mouse', async () => {
    const page = await openPage(env.browser);
    await page.goto(`${env.app.base}/reset`);
    for (let i = 0; i < 5 && (await focused(page)) !== 'username'; i += 1) await page.keyboard.press('Tab');
    assert.equal(await focused(page), 'username');
    await page.keyboard.type('june');
    await page.keyboard.press('Enter');
    await heading(page, 'Verification step 1');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Space'); // the first option: email
    await page.keyboard.press('ArrowDown'); // the second: text my mobile phone
    assert.equal(await page.getByRole('radio', { name: /Text my mobile phone/ }).isChecked(), true);
    await page.keyboard.press('Tab');
    assert.equal(await focused(page), 'destination');
    await page.keyboard.type(MOBILE);
    await page.keyboard.press('Enter');
    await heading(page, 'Enter your verification code');
    await page.keyboard.press('Tab');
    assert.equal(await focused(page), 'code');
    await page.keyboard.type(await lastCode(env.app, '4255550112'));
    await page.keyboard.press('Enter');
    await heading(page, 'Choose a new password');
    await page.keyboard.press('Tab');
    assert.equal(await focused(page), 'pw-new');
    await page.keyboard.type('Copper-kettle-orchard-57');
    await page.keyboard.press('Tab');
    await page.keyboard.type('Copper-kettle-orchard-57');
    await page.keyboard.press('Enter');
    await heading(page, 'Your password has been reset');
    clean(page);
    await page.close();
  });
});

describe('unlock', () => {
  test('security questions (a wrong answer re-draws them), then the success page with the devices note', async () => {
    const page = await openPage(env.browser);
    await who(page, 'unlock', 'lee');
    await heading(page, 'Verification step 1');
    await page.getByRole('radio', { name: /Answer my security questions/ }).check();
    await page.getByRole('button', { name: 'Next', exact: true }).click();
    await heading(page, 'Answer your security questions');
    const answer = async (right) => {
      const inputs = page.locator('#q-list input');
      const n = await inputs.count();
      assert.ok(n >= 3, 'the policy asks three questions');
      for (let i = 0; i < n; i += 1) {
        const id = await inputs.nth(i).getAttribute('data-id');
        await inputs.nth(i).fill(right ? `answer ${Number(id.slice(1))}` : 'not my answer');
      }
      await page.getByRole('button', { name: 'Next', exact: true }).click();
    };
    await answer(false);
    await page.getByText("One or more answers didn't match").waitFor();
    await screenshot(page, 'unlock-questions-1280');
    await answer(true);
    await heading(page, 'Your account has been unlocked');
    assert.match(await page.textContent('#step-done'), /Make sure you update all your devices to your new password/);
    await screenshot(page, 'unlock-done-1280');
    await page.setViewportSize({ width: 360, height: 780 });
    await screenshot(page, 'unlock-done-360');
    clean(page);
    await page.close();
  });

  test('an account that is not locked is told so', async () => {
    const page = await openPage(env.browser);
    await who(page, 'unlock', 'chris');
    await heading(page, "Your account isn't locked");
    assert.ok(await page.getByRole('link', { name: 'Reset my password' }).isVisible());
    await page.close();
  });
});

describe("Entra's guide's error cases", () => {
  const cases = [
    ['fed', 'Please contact your admin', /not managed by this service/],
    ['off', 'Your account is not enabled for password reset', /has not set up your account for use with this service/],
    ['bare', 'We could not verify your account', /we can contact an administrator in your organization/],
    ['nobody-here', 'We could not verify your account', /we can contact an administrator in your organization/],
  ];
  for (const [user, title, text] of cases) {
    test(`${user}: "${title}" with the Contact an administrator action`, async () => {
      const page = await openPage(env.browser, 360);
      await who(page, 'reset', user);
      await heading(page, title);
      assert.equal(await focused(page), 'end-h');
      assert.match(await page.textContent('#step-end'), text);
      await page.getByRole('button', { name: 'Contact an administrator' }).click();
      const sent = page.locator('#step-end [role="status"] p').first();
      await sent.waitFor();
      // The same answer for every account, known or not (the admins hear only of known ones).
      assert.match(await sent.textContent(), /asked an administrator in your organization to help you/);
      if (user === 'off') await screenshot(page, 'reset-not-enabled-360');
      clean(page);
      await page.close();
    });
  }
});

describe('every page', () => {
  const pages = [['/', 'index'], ['/reset', 'reset'], ['/unlock', 'unlock'], ['/register', 'register'], ['/change-password', 'change-password'], ['/nope', '404']];
  for (const [path, name] of pages) {
    test(`${path}: under 50 KB, no serious axe violation (light and dark), screenshots`, async () => {
      for (const width of [360, 1280]) {
        const page = await openPage(env.browser, width);
        await page.goto(`${env.app.base}${path}`, { waitUntil: 'networkidle' });
        await page.waitForTimeout(300); // the robot check's worker and challenge
        assert.ok(page.bytes < 50 * 1024, `${path} transferred ${page.bytes} bytes`);
        // No layout shift while the page loads (the robot check updates in place).
        const shift = await page.evaluate(() => new Promise((done) => {
          let total = 0;
          new PerformanceObserver((list) => {
            for (const e of list.getEntries()) if (!e.hadRecentInput) total += e.value;
          }).observe({ type: 'layout-shift', buffered: true });
          setTimeout(() => done(total), 700);
        }));
        assert.ok(shift < 0.01, `${path} shifted its layout by ${shift}`);
        await screenshot(page, `${name}-${width}`);
        if (width === 1280) {
          assert.deepEqual(await axe(page), [], `${path} (light)`);
          await page.emulateMedia({ colorScheme: 'dark' });
          assert.deepEqual(await axe(page), [], `${path} (dark)`);
          await screenshot(page, `${name}-dark-${width}`);
        }
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
        assert.equal(overflow, false, `${path} fits ${width} px without horizontal scrolling`);
        clean(page);
        console.log(`# ${path} at ${width}px: ${page.bytes} bytes`);
        await page.close();
      }
    });
  }

  test('the steps of reset and unlock pass axe too', async () => {
    const page = await openPage(env.browser);
    await who(page, 'reset', 'kim');
    await heading(page, 'Verification step 1');
    await page.getByRole('radio', { name: /Email my alternate email/ }).check();
    assert.deepEqual(await axe(page), [], 'method step');
    await page.getByLabel(/Enter your full/).fill(EMAIL);
    await page.getByRole('button', { name: 'Email', exact: true }).click();
    await heading(page, 'Enter your verification code');
    assert.deepEqual(await axe(page), [], 'code step');
    await enterCode(page, await lastCode(env.app, 'jane.doe'));
    await heading(page, 'Choose a new password');
    await page.getByLabel('Enter new password').fill('abc');
    assert.deepEqual(await axe(page), [], 'password step');
    await page.emulateMedia({ colorScheme: 'dark' });
    assert.deepEqual(await axe(page), [], 'password step, dark');
    await page.close();
  });
});
