//! Outbound events against a real database, the real runner and a real HTTP receiver:
//! a receiver that is down for a while gets every event once it is back, signed, with
//! redeliveries identifiable by their delivery id; disabled and filtered-out subscribers
//! get nothing; the pipeline emits where it stores revisions and opens pull requests; the
//! processor's /metrics counts what happened. NATS subscribers, against the real NATS
//! server with JetStream on 127.0.0.1:4222 (each test with a stream and subject of its
//! own): the message carries the body, the delivery id and the type; only an ack delivers;
//! an unreachable server fails into the dead letter without showing credentials; JetStream
//! drops a redelivery.

#[macro_use]
mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{GIT_SECOND, World, attempt, update, world_with};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rfd_github_fake::TestRepo;
use rfd_model::events::{Change, Event, EventSettings, verify_signature};
use rfd_model::{JobFilter, JobKind, JobState, Page, Store, Visibility};
use rfd_processor::events::{EventDeliverer, WithEvents};
use rfd_processor::metrics::{Measured, ProcessorMetrics};
use rfd_processor::pipeline::JobProcessor;
use rfd_processor::pipeline::{Pipeline, PipelineSettings};
use rfd_processor::runner::{Runner, RunnerSettings};
use tokio::net::TcpListener;

const SECRET: &str = "receiver-s3cret";

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Received {
    delivery: String,
    event: String,
    timestamp: String,
    signature: String,
    body: Vec<u8>,
}

/// A local HTTP receiver; answers 500 to its first `fail_first` requests, then 200.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn got(&self) -> Vec<Received> {
        self.got.lock().map(|got| got.clone()).unwrap_or_default()
    }

    async fn serve(&self, listener: TcpListener, fail_first: usize) {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let got = self.got.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let got = got.clone();
                    async move {
                        let header = |name: &str| {
                            request
                                .headers()
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_string()
                        };
                        let (delivery, event, timestamp, signature) = (
                            header("x-rfd-delivery"),
                            header("x-rfd-event"),
                            header("x-rfd-timestamp"),
                            header("x-rfd-signature-256"),
                        );
                        let body = request.into_body().collect().await.map(|b| b.to_bytes().to_vec());
                        let count = {
                            let mut got = got.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                            got.push(Received {
                                delivery,
                                event,
                                timestamp,
                                signature,
                                body: body.unwrap_or_default(),
                            });
                            got.len()
                        };
                        let status = if count <= fail_first { 500 } else { 200 };
                        Ok::<_, Infallible>(
                            hyper::Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::new()))
                                .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new()))),
                        )
                    }
                });
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    }
}

/// A local address nothing listens on (yet).
fn free_address() -> SocketAddr {
    let listener = ok!(std::net::TcpListener::bind("127.0.0.1:0"), "bind");
    ok!(listener.local_addr(), "local addr")
}

fn settings(subscribers: serde_json::Value) -> EventSettings {
    let settings: EventSettings = ok!(
        serde_json::from_value(serde_json::json!({ "subscribers": subscribers, "timeout_secs": 5 })),
        "settings"
    );
    ok!(settings.validate(), "validate");
    settings
}

fn visibility_event(number: i32) -> Event {
    Event {
        owner: "acme".into(),
        repository: "rfd".into(),
        rfd_number: number,
        change: Change::VisibilityChanged { from: Visibility::Private, to: Visibility::Public },
        dedupe_key: None,
    }
}

async fn delivery_jobs(store: &Store) -> Vec<rfd_model::Job> {
    ok!(store.list_jobs(&JobFilter::default(), Page::first(1000)).await, "jobs")
        .into_iter()
        .filter(|job| job.kind == JobKind::EventDelivery)
        .collect()
}

async fn wait_until<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `name{labels} value` lines of the text format, keyed by name and sorted labels.
fn parse_metrics(text: &str) -> HashMap<(String, BTreeMap<String, String>), f64> {
    let mut series = HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let Some((key, value)) = line.rsplit_once(' ') else { panic!("malformed line {line:?}") };
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("malformed value in {line:?}"));
        let (name, labels) = match key.split_once('{') {
            Some((name, rest)) => {
                let rest = rest.strip_suffix('}').unwrap_or_else(|| panic!("malformed labels in {line:?}"));
                let labels = rest
                    .split(',')
                    .filter(|pair| !pair.is_empty())
                    .map(|pair| {
                        let (k, v) =
                            pair.split_once('=').unwrap_or_else(|| panic!("malformed label {pair:?}"));
                        (k.to_string(), v.trim_matches('"').to_string())
                    })
                    .collect();
                (name.to_string(), labels)
            }
            None => (key.to_string(), BTreeMap::new()),
        };
        series.insert((name, labels), value);
    }
    series
}

fn metric(
    series: &HashMap<(String, BTreeMap<String, String>), f64>,
    name: &str,
    labels: &[(&str, &str)],
) -> f64 {
    let labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    series.get(&(name.to_string(), labels)).copied().unwrap_or(0.0)
}

async fn scrape(address: SocketAddr) -> HashMap<(String, BTreeMap<String, String>), f64> {
    let response = ok!(reqwest::get(format!("http://{address}/metrics")).await, "scrape");
    assert_eq!(response.status().as_u16(), 200);
    // What prometheus-client writes is OpenMetrics text; the header must say so.
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    parse_metrics(&ok!(response.text().await, "metrics body"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_that_was_down_gets_every_event_signed_and_nothing_goes_to_disabled_subscribers() {
    let db = rfd_devdb::test_database().await;
    let store = Store::new(rfd_model::db::pool(&db.url, &rfd_model::PoolSettings::default()));

    let down = free_address();
    let (other, other_receiver) = {
        let listener = ok!(TcpListener::bind("127.0.0.1:0").await, "bind");
        let address = ok!(listener.local_addr(), "addr");
        let receiver = Receiver::default();
        let serving = receiver.clone();
        tokio::spawn(async move { serving.serve(listener, 0).await });
        (address, receiver)
    };
    let events = settings(serde_json::json!([
        { "name": "flaky", "kind": "webhook", "url": format!("http://{down}/hook"), "secret": SECRET },
        { "name": "off", "kind": "webhook", "enabled": false,
          "url": format!("http://{other}/hook"), "secret": "other" },
        { "name": "elsewhere", "kind": "webhook", "repositories": ["acme/not-rfd"],
          "url": format!("http://{other}/hook"), "secret": "other" },
    ]));
    ok!(store.sync_event_subscribers(&events).await, "sync subscribers");

    // Three events; the keyed one emitted twice is recorded once.
    let mut emitted = HashSet::new();
    for number in [1, 2] {
        let id = ok!(store.emit_event(&visibility_event(number)).await, "emit");
        emitted.insert(id.unwrap_or_else(|| panic!("an unkeyed event is always new")));
    }
    let keyed = Event { dedupe_key: Some("test:3".into()), ..visibility_event(3) };
    let id = ok!(store.emit_event(&keyed).await, "emit keyed");
    emitted.insert(id.unwrap_or_else(|| panic!("a new key is a new event")));
    assert_eq!(ok!(store.emit_event(&keyed).await, "emit keyed again"), None);
    // One job per (event, enabled subscriber of the repository): only "flaky".
    assert_eq!(delivery_jobs(&store).await.len(), 3);

    let metrics = Arc::new(ProcessorMetrics::new(None));
    let metrics_listener = ok!(TcpListener::bind("127.0.0.1:0").await, "bind metrics");
    let metrics_address = ok!(metrics_listener.local_addr(), "metrics addr");
    let metrics_server = tokio::spawn(rfd_processor::metrics::serve(metrics_listener, metrics.clone()));

    let deliverer =
        ok!(EventDeliverer::new(store.clone(), events.clone()), "deliverer").with_metrics(metrics.clone());
    let handler = Measured::new(WithEvents::new(JobProcessor::Skip, deliverer), metrics.clone());
    let runner_settings = RunnerSettings {
        concurrency: 4,
        lease_secs: 10.0,
        poll_interval_ms: 50,
        shutdown_grace_secs: 5.0,
        backoff_base_ms: 50,
        backoff_cap_secs: 0.5,
    };
    let runner = Runner::new(store.clone(), handler, runner_settings, "events-test".into());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(runner.run(async move {
        let _ = stopped.await;
    }));

    // The receiver is down: every delivery fails and is retried.
    wait_until("two failed attempts of every delivery", || async {
        delivery_jobs(&store).await.iter().all(|job| job.attempts >= 2 && job.state != JobState::Succeeded)
    })
    .await;
    for job in delivery_jobs(&store).await {
        let error = job.last_error.unwrap_or_default();
        assert!(error.contains("\"flaky\" could not be reached"), "{error}");
        assert!(!error.contains(SECRET), "{error}");
    }

    // Back up; its first answer is a 500, so that delivery comes again.
    let receiver = Receiver::default();
    let listener = ok!(TcpListener::bind(down).await, "bind the receiver's address again");
    let serving = receiver.clone();
    let receiving = tokio::spawn(async move { serving.serve(listener, 1).await });
    wait_until("every delivery to succeed", || async {
        delivery_jobs(&store).await.iter().all(|job| job.state == JobState::Succeeded)
    })
    .await;

    let got = receiver.got();
    assert_eq!(got.len(), 4, "three deliveries and one redelivery: {got:?}");
    let mut bodies_by_delivery: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    let mut events_seen = HashSet::new();
    for request in &got {
        assert!(
            verify_signature(&[SECRET.as_bytes()], &request.signature, &request.timestamp, &request.body),
            "signature of {request:?}"
        );
        assert!(!verify_signature(&[b"other"], &request.signature, &request.timestamp, &request.body));
        assert_eq!(request.event, "rfd.visibility_changed");
        let body: serde_json::Value = ok!(serde_json::from_slice(&request.body), "body");
        assert_eq!(body["type"], "rfd.visibility_changed");
        assert_eq!(body["data"]["to"], "public");
        let id: uuid::Uuid = ok!(body["id"].as_str().unwrap_or_default().parse(), "event id");
        events_seen.insert(id);
        bodies_by_delivery.entry(request.delivery.clone()).or_default().push(request.body.clone());
    }
    assert_eq!(events_seen, emitted, "every event arrived");
    assert_eq!(bodies_by_delivery.len(), 3, "one delivery id per (event, subscriber)");
    let repeated: Vec<_> = bodies_by_delivery.values().filter(|bodies| bodies.len() > 1).collect();
    assert_eq!(repeated.len(), 1, "the redelivery has the first attempt's delivery id");
    assert_eq!(repeated[0][0], repeated[0][1], "and the same body");
    assert_eq!(bodies_by_delivery[&got[0].delivery].len(), 2, "the request answered 500 came again");
    assert!(other_receiver.got().is_empty(), "disabled and filtered-out subscribers got nothing");

    let series = scrape(metrics_address).await;
    let kind = JobKind::EventDelivery.as_str();
    assert_eq!(metric(&series, "rfd_processor_jobs_total", &[("kind", kind), ("outcome", "succeeded")]), 3.0);
    assert!(metric(&series, "rfd_processor_jobs_total", &[("kind", kind), ("outcome", "failed")]) >= 7.0);
    assert_eq!(
        metric(
            &series,
            "rfd_processor_event_deliveries_total",
            &[("subscriber", "flaky"), ("outcome", "delivered")]
        ),
        3.0
    );
    assert_eq!(
        metric(
            &series,
            "rfd_processor_event_deliveries_total",
            &[("subscriber", "flaky"), ("outcome", "rejected")]
        ),
        1.0
    );
    assert!(
        metric(
            &series,
            "rfd_processor_event_deliveries_total",
            &[("subscriber", "flaky"), ("outcome", "error")]
        ) >= 6.0
    );
    assert_eq!(metric(&series, "rfd_processor_job_duration_seconds_count", &[("kind", kind)]), {
        let succeeded =
            metric(&series, "rfd_processor_jobs_total", &[("kind", kind), ("outcome", "succeeded")]);
        let failed = metric(&series, "rfd_processor_jobs_total", &[("kind", kind), ("outcome", "failed")]);
        succeeded + failed
    });

    let _ = stop.send(());
    let _ = running.await;
    receiving.abort();
    metrics_server.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscriber_disabled_after_the_event_gets_nothing_and_the_job_says_why() {
    let db = rfd_devdb::test_database().await;
    let store = Store::new(rfd_model::db::pool(&db.url, &rfd_model::PoolSettings::default()));
    let listener = ok!(TcpListener::bind("127.0.0.1:0").await, "bind");
    let address = ok!(listener.local_addr(), "addr");
    let receiver = Receiver::default();
    let serving = receiver.clone();
    let receiving = tokio::spawn(async move { serving.serve(listener, 0).await });

    let enabled = settings(serde_json::json!([
        { "name": "hook", "kind": "webhook", "url": format!("http://{address}/"), "secret": SECRET },
    ]));
    ok!(store.sync_event_subscribers(&enabled).await, "sync");
    ok!(store.emit_event(&visibility_event(5)).await, "emit");
    let disabled = settings(serde_json::json!([
        { "name": "hook", "kind": "webhook", "enabled": false, "url": format!("http://{address}/"), "secret": SECRET },
    ]));
    // Disabled now: new events enqueue nothing, the one already queued is not sent.
    ok!(store.sync_event_subscribers(&disabled).await, "sync");
    ok!(store.emit_event(&visibility_event(6)).await, "emit");
    let jobs = delivery_jobs(&store).await;
    assert_eq!(jobs.len(), 1);

    let handler =
        WithEvents::new(JobProcessor::Skip, ok!(EventDeliverer::new(store.clone(), disabled), "deliverer"));
    assert_eq!(attempt(&store, &handler).await, Ok(()));
    let warnings = ok!(store.job_warnings(jobs[0].id).await, "warnings");
    assert!(warnings.iter().any(|w| w.message.contains("disabled")), "{warnings:?}");
    assert!(receiver.got().is_empty());
    receiving.abort();
}

fn adoc(number: i32, title: &str, state: &str) -> String {
    format!(":state: {state}\n\n= RFD {number} {title}\n\nWhy {title} matters.\n")
}

async fn run_pipeline_job(world: &World, number: i32, branch: &str, sha: &str) {
    ok!(world.store.enqueue(&[update(number, branch, sha)]).await, "enqueue");
    // Deliveries are not pipeline jobs: claim until the RFD job has run.
    loop {
        let pending = ok!(
            world
                .store
                .list_jobs(&JobFilter { rfd: Some(number), state: Some(JobState::Queued) }, Page::first(10))
                .await,
            "jobs"
        );
        if pending.is_empty() {
            break;
        }
        let handler = WithEvents::new(
            Pipeline::new(world.store.clone(), world.source.clone(), PipelineSettings::default(), 10),
            ok!(EventDeliverer::new(world.store.clone(), EventSettings::default()), "deliverer"),
        );
        let _ = attempt(&world.store, &handler).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pipeline_emits_new_revisions_state_changes_and_opened_pull_requests_once() {
    let repo = ok!(TestRepo::new(), "repo");
    ok!(repo.write("rfd/0001/README.adoc", adoc(1, "First", "published")), "write");
    ok!(repo.commit("RFD 1"), "commit");
    ok!(repo.branch("0042"), "branch");
    ok!(repo.checkout("0042"), "checkout");
    ok!(repo.write("rfd/0042/README.adoc", adoc(42, "Queues", "ideation")), "write");
    let first = ok!(repo.commit("RFD 42: start"), "commit");
    let world = world_with(repo).await;
    let subscribers = settings(serde_json::json!([
        { "name": "all", "kind": "webhook", "url": "http://127.0.0.1:9/", "secret": SECRET },
    ]));
    ok!(world.store.sync_event_subscribers(&subscribers).await, "sync");

    run_pipeline_job(&world, 42, "0042", &first).await;
    let kinds = |events: Vec<(String, String)>| events.into_iter().map(|(kind, _)| kind).collect::<Vec<_>>();
    let events = ok!(world.store.events_of_rfd(42).await, "events");
    let mut seen = kinds(events.clone());
    seen.sort();
    assert_eq!(seen, ["rfd.pull_request_opened", "rfd.revision_created"], "{events:?}");

    // The same job again (as a retry after a crash would): nothing new.
    {
        use diesel_async::RunQueryDsl;
        let mut conn = ok!(world.store.pool().get().await, "connection");
        ok!(
            diesel::sql_query("UPDATE job SET state = 'failed' WHERE rfd = 42").execute(&mut conn).await,
            "fail the job"
        );
    }
    let done =
        ok!(world.store.list_jobs(&JobFilter { rfd: Some(42), state: None }, Page::first(10)).await, "jobs");
    ok!(world.store.retry_job(done[0].id).await, "retry");
    run_pipeline_job(&world, 42, "0042", &first).await;
    assert_eq!(ok!(world.store.events_of_rfd(42).await, "events").len(), 2, "a rerun emits nothing new");

    tokio::time::sleep(GIT_SECOND).await;
    // The platform committed a fix to the branch; start from it.
    ok!(world.repo.reset_hard(), "reset");
    ok!(world.repo.write("rfd/0042/README.adoc", adoc(42, "Queues", "discussion")), "write");
    let second = ok!(world.repo.commit("RFD 42: discuss"), "commit");
    run_pipeline_job(&world, 42, "0042", &second).await;
    let events = ok!(world.store.events_of_rfd(42).await, "events");
    let mut seen = kinds(events.clone());
    seen.sort();
    assert_eq!(
        seen,
        ["rfd.pull_request_opened", "rfd.revision_created", "rfd.revision_created", "rfd.state_changed"],
        "{events:?}"
    );
    let state_change =
        events.iter().find(|(kind, _)| kind == "rfd.state_changed").map(|(_, body)| body.clone());
    let body: serde_json::Value = ok!(serde_json::from_str(&state_change.unwrap_or_default()), "body");
    assert_eq!(body["data"]["from"], "ideation");
    assert_eq!(body["data"]["to"], "discussion");
    assert_eq!(body["rfd_number"], 42);
    // Every event has its delivery job for the one subscriber.
    assert_eq!(delivery_jobs(&world.store).await.len(), 4);
}

// ---- NATS subscribers, against the real NATS server with JetStream on 127.0.0.1:4222 ----

const NATS_URL: &str = "nats://127.0.0.1:4222";

/// A JetStream stream of one test's own (unique name and subject, so tests run in
/// parallel), in memory, deleted by [`TestStream::delete`].
struct TestStream {
    jetstream: async_nats::jetstream::Context,
    name: String,
    subject: String,
}

impl TestStream {
    async fn create() -> Self {
        let client = ok!(
            async_nats::connect(NATS_URL).await,
            "connecting to nats-server on 127.0.0.1:4222 (run it with JetStream: `nats-server -js`)"
        );
        let jetstream = async_nats::jetstream::new(client);
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (name, subject) = (format!("RFD_TEST_{id}"), format!("rfd.test.{id}.events"));
        ok!(
            jetstream
                .create_stream(async_nats::jetstream::stream::Config {
                    name: name.clone(),
                    subjects: vec![subject.clone()],
                    storage: async_nats::jetstream::stream::StorageType::Memory,
                    max_age: Duration::from_secs(3600),
                    ..Default::default()
                })
                .await,
            "create the stream"
        );
        Self { jetstream, name, subject }
    }

    /// Every message in the stream, oldest first.
    async fn messages(&self) -> Vec<async_nats::jetstream::message::StreamMessage> {
        let mut stream = ok!(self.jetstream.get_stream(&self.name).await, "get the stream");
        let state = ok!(stream.info().await, "stream info").state.clone();
        let mut messages = Vec::new();
        if state.messages > 0 {
            for sequence in state.first_sequence..=state.last_sequence {
                messages.push(ok!(stream.get_raw_message(sequence).await, "get a message"));
            }
        }
        messages
    }

    async fn delete(self) {
        ok!(self.jetstream.delete_stream(&self.name).await, "delete the stream");
    }
}

fn header(message: &async_nats::jetstream::message::StreamMessage, name: &str) -> String {
    message.headers.get(name).map(|value| value.as_str().to_string()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_nats_subscriber_gets_each_event_in_its_stream_with_the_delivery_id_and_type() {
    let db = rfd_devdb::test_database().await;
    let store = Store::new(rfd_model::db::pool(&db.url, &rfd_model::PoolSettings::default()));
    let stream = TestStream::create().await;
    let events = settings(serde_json::json!([
        { "name": "bus", "kind": "nats", "url": NATS_URL, "subject": stream.subject },
    ]));
    ok!(store.sync_event_subscribers(&events).await, "sync subscribers");
    ok!(store.emit_event(&visibility_event(7)).await, "emit");
    let jobs = delivery_jobs(&store).await;
    assert_eq!(jobs.len(), 1);

    let handler =
        WithEvents::new(JobProcessor::Skip, ok!(EventDeliverer::new(store.clone(), events), "deliverer"));
    assert_eq!(attempt(&store, &handler).await, Ok(()));

    let delivery = ok!(store.event_delivery_for_job(jobs[0].id).await, "delivery")
        .unwrap_or_else(|| panic!("the job has its delivery"));
    assert!(delivery.delivered_at.is_some(), "the stream's ack marks it delivered");
    let messages = stream.messages().await;
    assert_eq!(messages.len(), 1, "one message in the stream");
    let message = &messages[0];
    assert_eq!(message.subject.as_str(), stream.subject);
    assert_eq!(message.payload.as_ref(), delivery.body.as_bytes(), "the body as HTTP subscribers get it");
    assert_eq!(header(message, "Nats-Msg-Id"), delivery.id.to_string());
    assert_eq!(header(message, "X-Rfd-Event"), "rfd.visibility_changed");
    let body: serde_json::Value = ok!(serde_json::from_slice(&message.payload), "body");
    assert_eq!(body["type"], "rfd.visibility_changed");
    assert_eq!(body["rfd_number"], 7);
    assert_eq!(body["data"]["to"], "public");
    stream.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_nats_server_fails_the_delivery_into_the_dead_letter_without_showing_credentials() {
    const TOKEN: &str = "nats-t0ken-s3cret";
    const PASSWORD: &str = "nats-passw0rd-s3cret";
    let db = rfd_devdb::test_database().await;
    let store = Store::new(rfd_model::db::pool(&db.url, &rfd_model::PoolSettings::default()));
    // A closed port: nothing answers there.
    let closed = free_address();
    let url = format!("nats://{closed}");
    let events = settings(serde_json::json!([
        { "name": "bus-token", "kind": "nats", "url": url, "subject": "rfd.events", "token": TOKEN },
        { "name": "bus-user", "kind": "nats", "url": url, "subject": "rfd.events",
          "user": "rfd", "password": PASSWORD },
    ]));
    ok!(store.sync_event_subscribers(&events).await, "sync subscribers");
    ok!(store.emit_event(&visibility_event(8)).await, "emit");
    {
        use diesel_async::RunQueryDsl;
        let mut conn = ok!(store.pool().get().await, "connection");
        ok!(
            diesel::sql_query("UPDATE job SET max_attempts = 2 WHERE kind = 'event_delivery'")
                .execute(&mut conn)
                .await,
            "two attempts per delivery"
        );
    }

    let handler =
        WithEvents::new(JobProcessor::Skip, ok!(EventDeliverer::new(store.clone(), events), "deliverer"));
    // Two deliveries, two attempts each: every attempt fails, the first ones are retried.
    for _ in 0..4 {
        let outcome = attempt(&store, &handler).await;
        assert!(outcome.is_err(), "{outcome:?}");
    }
    let jobs = delivery_jobs(&store).await;
    assert_eq!(jobs.len(), 2);
    for job in &jobs {
        assert_eq!(job.state, JobState::Failed, "the dead letter after max_attempts: {job:?}");
        assert_eq!(job.attempts, 2);
        let error = job.last_error.clone().unwrap_or_default();
        assert!(error.contains("could not be reached"), "{error}");
        assert!(error.contains(&format!("NATS server {url}")), "{error}");
        assert!(error.contains("\"bus-token\"") || error.contains("\"bus-user\""), "{error}");
        assert!(!error.contains(TOKEN) && !error.contains(PASSWORD), "no credential in {error}");
        let delivery = ok!(store.event_delivery_for_job(job.id).await, "delivery");
        assert!(delivery.is_some_and(|d| d.delivered_at.is_none()), "nothing is marked delivered");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redelivered_nats_event_is_stored_once_and_a_new_event_is_not_mistaken_for_it() {
    let db = rfd_devdb::test_database().await;
    let store = Store::new(rfd_model::db::pool(&db.url, &rfd_model::PoolSettings::default()));
    let stream = TestStream::create().await;
    let events = settings(serde_json::json!([
        { "name": "bus", "kind": "nats", "url": NATS_URL, "subject": stream.subject },
    ]));
    ok!(store.sync_event_subscribers(&events).await, "sync subscribers");
    ok!(store.emit_event(&visibility_event(9)).await, "emit");
    let deliverer = || ok!(EventDeliverer::new(store.clone(), events.clone()), "deliverer");
    assert_eq!(attempt(&store, &WithEvents::new(JobProcessor::Skip, deliverer())).await, Ok(()));
    let job = delivery_jobs(&store).await.remove(0);

    // The ack was lost (the processor died before recording it): the job runs again, from a
    // new processor, with the same delivery id.
    {
        use diesel_async::RunQueryDsl;
        let mut conn = ok!(store.pool().get().await, "connection");
        ok!(
            diesel::sql_query("UPDATE event_delivery SET delivered_at = NULL").execute(&mut conn).await,
            "forget the ack"
        );
        ok!(
            diesel::sql_query("UPDATE job SET state = 'failed' WHERE kind = 'event_delivery'")
                .execute(&mut conn)
                .await,
            "fail the job"
        );
    }
    ok!(store.retry_job(job.id).await, "retry");
    assert_eq!(attempt(&store, &WithEvents::new(JobProcessor::Skip, deliverer())).await, Ok(()));
    let delivery = ok!(store.event_delivery_for_job(job.id).await, "delivery")
        .unwrap_or_else(|| panic!("the job has its delivery"));
    assert!(delivery.delivered_at.is_some(), "the second publish was acked");
    let messages = stream.messages().await;
    assert_eq!(messages.len(), 1, "JetStream dropped the redelivery (same Nats-Msg-Id)");
    assert_eq!(header(&messages[0], "Nats-Msg-Id"), delivery.id.to_string());

    // Another event is another delivery id, and another message.
    ok!(store.emit_event(&visibility_event(9)).await, "emit again");
    assert_eq!(attempt(&store, &WithEvents::new(JobProcessor::Skip, deliverer())).await, Ok(()));
    let messages = stream.messages().await;
    assert_eq!(messages.len(), 2);
    assert_ne!(header(&messages[0], "Nats-Msg-Id"), header(&messages[1], "Nats-Msg-Id"));
    stream.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_nats_publish_that_no_stream_acks_is_not_delivered() {
    let db = rfd_devdb::test_database().await;
    let store = Store::new(rfd_model::db::pool(&db.url, &rfd_model::PoolSettings::default()));
    // The server answers, but no stream captures this subject: nothing would keep the event.
    let subject = format!("rfd.test.{}.nowhere", uuid::Uuid::new_v4().simple());
    let events = settings(serde_json::json!([
        { "name": "bus", "kind": "nats", "url": NATS_URL, "subject": subject },
    ]));
    ok!(store.sync_event_subscribers(&events).await, "sync subscribers");
    ok!(store.emit_event(&visibility_event(10)).await, "emit");
    let handler =
        WithEvents::new(JobProcessor::Skip, ok!(EventDeliverer::new(store.clone(), events), "deliverer"));
    let outcome = attempt(&store, &handler).await;
    let error = outcome.err().unwrap_or_default();
    assert!(error.contains(&format!("\"bus\": no JetStream ack for subject {subject:?}")), "{error}");
    let job = delivery_jobs(&store).await.remove(0);
    assert_eq!(job.state, JobState::Queued, "queued again for its next attempt");
    assert_eq!(job.attempts, 1);
    let delivery = ok!(store.event_delivery_for_job(job.id).await, "delivery");
    assert!(delivery.is_some_and(|d| d.delivered_at.is_none()));
}
