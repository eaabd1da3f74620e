//! The maintenance sweep on the built components: records written three days
//! ago are found through the expiry index and the audit journal (no key
//! listing) and removed over bounded calls, and live ones stay.

use serde_json::{Value, json};
use unlatch_core::flow::{self, Purpose};
use unlatch_core::platform::keys;
use unlatch_core::{Clock, Ctx, ManualClock, OsRandom, Secrets, Store, SystemClock, audit, session};
use unlatch_e2e::App;

const TOKEN: &str = "e2e-admin-token-0123456789abcdef";

fn sweep(app: &App) -> Value {
    let auth = format!("Bearer {TOKEN}");
    let reply = app.request("POST", "/api/admin/maintenance/sweep", &[("authorization", &auth)], b"");
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

#[test]
fn old_flows_and_sessions_go_through_the_index_and_live_ones_stay() {
    let app = App::start_with(&[("dev_mode", "true"), ("admin_token", TOKEN)]);
    let store = app.store();
    let now = SystemClock.now();
    let three_days_ago = ManualClock::new(now - 3 * 86400);
    let [old, live] = [&three_days_ago as &dyn Clock, &SystemClock].map(|clock| {
        let ctx = Ctx::new(&store, clock, &OsRandom, Secrets::fixed(b"fixture", b"fixture"), "127.0.0.1");
        // The flow rides in its audit event (the journal); the session goes to the expiry index.
        let flow = flow::new(&ctx, Purpose::Reset, "u1", 1, vec![], 900);
        let record = flow::record(&ctx, &flow).unwrap();
        audit::append_with(&ctx, "flow_started", Some("u1"), json!({}), vec![record]).unwrap();
        let session = session::create(&ctx, "u1").unwrap();
        [keys::flow(&flow.handle(&ctx)), session::storage_key(&session.id)]
    });
    for key in old.iter().chain(&live) {
        assert!(store.get(key).unwrap().is_some(), "{key} written");
    }

    // Three days of minutes at 1,000 a call: a few calls, each reporting whether it caught up.
    let mut calls = 0;
    let mut removed = 0;
    loop {
        calls += 1;
        let swept = sweep(&app);
        removed += swept["removed"].as_u64().unwrap();
        if swept["caught_up"] == true {
            break;
        }
        assert!(calls < 20, "each call makes progress");
    }
    assert!(calls > 1, "one call is bounded: it cannot walk three days of minutes");
    assert_eq!(removed, 2, "the old flow and the old session");
    for key in &old {
        assert!(store.get(key).unwrap().is_none(), "{key} swept");
    }
    for key in &live {
        assert!(store.get(key).unwrap().is_some(), "{key} kept");
    }
}
