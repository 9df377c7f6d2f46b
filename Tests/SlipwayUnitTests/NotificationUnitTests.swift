import Foundation
import Synchronization
import Testing
import Logging
@testable import SlipwayCore
@testable import SlipwayManifest
@testable import SlipwayNotifications

@Suite("Notifications: signing, bodies, delivery order and retries")
struct NotificationUnitTests {
    @Test("SHA-256 and HMAC-SHA256 give the published test vectors (FIPS 180-4, RFC 4231)")
    func vectors() {
        #expect(SHA256.hex(SHA256.hash([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let twoBlocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        #expect(SHA256.hex(SHA256.hash(Array(twoBlocks.utf8))) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hex(SHA256.hmac(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8)))
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        // A key longer than a block is hashed first (RFC 4231, test case 6).
        let long = [UInt8](repeating: 0xaa, count: 131)
        #expect(SHA256.hex(SHA256.hmac(key: long, message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)))
                == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    static let commit: ObjectID = "abababababababababababababababababababab"
    static let event = DeploymentEvent(
        kind: .rolledBack, environment: "production", service: "web", version: "2.0.0", previousVersion: "1.0.0",
        deployment: DeploymentID(startedAt: Date(timeIntervalSince1970: 1_800_000_000), trigger: commit), commit: commit,
        time: Date(timeIntervalSince1970: 1_800_000_000), message: "production: web 1.0.0 → 2.0.0 rolled back: error rate 30% over 0%")

    @Test("the webhook body carries the event and a Flux event's fields; its signature is sha256=<hex HMAC>")
    func webhookBody() throws {
        var event = Self.event
        event.detail = "error rate 30% over 0%"
        event.trigger = .errorRate
        let body = Payloads.webhook(event)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        #expect(json["kind"] as? String == "rolled-back" && json["environment"] as? String == "production")
        #expect(json["detail"] as? String == "error rate 30% over 0%")
        #expect(json["reason"] as? String == "RolledBack" && json["severity"] as? String == "error")
        #expect((json["involvedObject"] as? [String: String])?["name"] == "production")
        #expect((json["metadata"] as? [String: String])?["previousVersion"] == "1.0.0")
        #expect(json["reportingController"] as? String == "slipway")
        #expect(Payloads.signature(of: body, key: "k") == "sha256=" + SHA256.hex(SHA256.hmac(key: [0x6b], message: body)))
        let slack = try #require(try JSONSerialization.jsonObject(with: Data(Payloads.slack(event))) as? [String: String])
        #expect(slack["text"]?.contains("rolled back: error rate 30%") == true)
        // Text from a reason never becomes a Slack mention or link.
        event.evidence = "Prometheus said: <!channel> <https://evil.example|approve> & more"
        let escaped = try #require(try JSONSerialization.jsonObject(with: Data(Payloads.slack(event))) as? [String: String])
        #expect(escaped["text"]?.contains("&lt;!channel&gt; &lt;https://evil.example|approve&gt; &amp; more") == true, "\(escaped)")
        // Going back because someone asked (no trigger) is news, not an error.
        event.trigger = nil
        #expect(event.severity == "info")
    }

    /// A channel whose attempts fail `failures` times, then land; it keeps what landed, in order.
    final class FlakyChannel: Sendable {
        let landed = Mutex<[String]>([])
        let tries = Mutex(0)
        let failures: Int

        init(failures: Int) { self.failures = failures }

        func channel(events: Set<EventKind> = Set(EventKind.allCases)) -> Channel {
            Channel(name: "flaky", events: events) { event in
                let attempt = self.tries.withLock { count -> Int in
                    count += 1
                    return count
                }
                if attempt <= self.failures { throw DeliveryFailure("HTTP 500") }
                self.landed.withLock { $0.append(event.message) }
            }
        }
    }

    func notifier() -> Notifier {
        var policy = Notifier.Policy()
        policy.firstBackoff = .milliseconds(10)  // the clock of backoff is not what these tests check
        return Notifier(policy: policy, logger: Logger(label: "test"))
    }

    @Test("events are delivered in order even when the first one is retried; a retry is in the deliveries")
    func orderAndRetry() async {
        let notifier = notifier(), flaky = FlakyChannel(failures: 2)
        for (index, kind) in [EventKind.started, .stepPassed, .stepPassed, .succeeded].enumerated() {
            var event = Self.event
            event.kind = kind
            event.message = "\(index)"
            notifier.send(event, to: [flaky.channel()])
        }
        #expect(await notifier.drain(within: .seconds(10)))
        #expect(flaky.landed.withLock { $0 } == ["0", "1", "2", "3"])
        let deliveries = notifier.deliveries(of: Self.event.deployment)
        #expect(deliveries.map(\.event) == [EventKind.started, .stepPassed, .stepPassed, .succeeded])
        #expect(deliveries.map(\.attempts) == [3, 1, 1, 1])
        #expect(deliveries.allSatisfy { $0.state == .delivered })
        #expect(deliveries.first?.detail == "delivered on attempt 3")
    }

    @Test("a channel takes only the events it names; one that never lands is given up after its attempts")
    func filterAndGiveUp() async {
        let notifier = notifier(), flaky = FlakyChannel(failures: 100)
        for kind in [EventKind.started, .failed] {
            var event = Self.event
            event.kind = kind
            notifier.send(event, to: [flaky.channel(events: [.failed])])
        }
        #expect(await notifier.drain(within: .seconds(10)))
        #expect(flaky.tries.withLock { $0 } == 5)
        let deliveries = notifier.deliveries(of: Self.event.deployment)
        #expect(deliveries.count == 1 && deliveries[0].event == .failed && deliveries[0].state == .failed && deliveries[0].detail == "HTTP 500")
    }

    @Test("a permanent failure (an unset URL) is not retried")
    func permanent() async {
        let notifier = notifier(), tries = Mutex(0)
        let channel = Channel(name: "unset", events: [.started]) { _ in
            tries.withLock { $0 += 1 }
            throw DeliveryFailure("HOOK_URL is not set in Slipway's environment", permanent: true)
        }
        notifier.send(Self.event.with(.started), to: [channel])
        #expect(await notifier.drain(within: .seconds(5)))
        #expect(tries.withLock { $0 } == 1)
        #expect(notifier.deliveries(of: Self.event.deployment).first?.state == .failed)
    }

    @Test("notify: channels parse; a URL written in, an unknown event or two kinds are errors with their place")
    func manifest() throws {
        let base = """
            service: web
            version: "1"
            run: { command: ["web"] }
            traffic: { listen: "127.0.0.1:8080" }

            """
        let parsed = try ManifestParser.parse(Data((base + """
            notify:
              - { webhook: env:HOOK_URL, secret: env:HOOK_KEY, events: [failed, rolled-back] }
              - { name: chat, slack: env:SLACK_URL }
              - { command: ["./notify", "{env}"] }
            """).utf8), path: "Environments/production.yaml")
        #expect(parsed.notify.map(\.name) == ["webhook-1", "chat", "command-3"])
        #expect(parsed.notify[0].kind == .webhook(url: SecretReference(variable: "HOOK_URL"), secret: SecretReference(variable: "HOOK_KEY")))
        #expect(parsed.notify[0].events == [.failed, .rolledBack])
        #expect(parsed.notify[1].events.count == EventKind.allCases.count)
        do {
            _ = try ManifestParser.parse(Data((base + """
                notify:
                  - { webhook: "https://hooks.example.com/T000/secret-token" }
                  - { slack: env:SLACK_URL, events: [rolledback] }
                  - { slack: env:SLACK_URL, command: ["x"] }
                """).utf8), path: "Environments/production.yaml")
            Issue.record("accepted")
        } catch {
            let messages = error.diagnostics.map(\.description)
            #expect(messages.count == 3, "\(messages)")
            #expect(messages.contains { $0.hasPrefix("Environments/production.yaml:6:") && $0.contains("must be a reference such as env:") })
            #expect(!messages.joined().contains("secret-token"), "the URL is never echoed")
            #expect(messages.contains { $0.contains("unknown event \"rolledback\"") && $0.contains("rolled-back") })
            #expect(messages.contains { $0.contains("exactly one of webhook, slack or command") })
        }
    }
}

extension DeploymentEvent {
    func with(_ kind: EventKind) -> DeploymentEvent {
        var event = self
        event.kind = kind
        return event
    }
}
