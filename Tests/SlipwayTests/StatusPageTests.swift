import Foundation
import Testing
@testable import SlipwayHost
#if canImport(Glibc)
import Glibc
#endif

/// The daemon's status page, JSON API and metrics, read by real clients: Debian's Prometheus,
/// headless Chromium, plain HTTP.
@Suite("Status page and metrics", .serialized)
struct StatusPageTests {
    func records(_ ops: OpsRepoFixture) throws -> Int {
        try ops.git(["log", "--format=%H", "--", "Deployments"]).split(separator: "\n").count
    }

    /// The address the daemon's status server bound (`--http 127.0.0.1:0`).
    func address(_ ops: OpsRepoFixture) async -> (host: String, port: Int)? {
        let file = ops.stateDirectory.appendingPathComponent("http.address")
        var found: (String, Int)?
        _ = await eventually(within: 20) {
            let text = (try? String(contentsOf: file, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else { return false }
            found = (String(text[..<colon]), port)
            return true
        }
        return found
    }

    @Test("a real Prometheus scrapes the daemon and the environment's HAProxy; the series come back through its HTTP API")
    func scraped() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free(), stats = try Ports.free()
            try await DaemonProcess.with(ops) { daemon in
                let manifest = testManifest(version: "1.0.0", listen: port).replacingOccurrences(
                    of: "traffic: { listen: \"127.0.0.1:\(port)\" }", with: "traffic: { listen: \"127.0.0.1:\(port)\", stats: \"127.0.0.1:\(stats)\" }")
                try ops.commit("Environments/production.yaml", manifest)
                #expect(try await eventually { try records(ops) == 1 }, "\(daemon.output)")
                let http = try #require(await address(ops), "\(daemon.output)")
                #expect(http.host == "127.0.0.1")
                let api = try RawHTTP.get(host: "127.0.0.1", port: http.port, path: "/api/environments")
                #expect(api.status == 200 && api.body.contains(#""environment":"production""#) && api.body.contains(#""version":"1.0.0""#), "\(api.body)")
                // A page elsewhere whose name was rebound to 127.0.0.1 names itself in Host: refused.
                let rebound = try RawHTTP.get(host: "127.0.0.1", port: http.port, path: "/api/environments", hostHeader: "attacker.example:\(http.port)")
                #expect(rebound.status == 421 && !rebound.body.contains("production"), "\(rebound.status) \(rebound.body)")
                #expect(try RawHTTP.get(host: "127.0.0.1", port: http.port, path: "/", hostHeader: "localhost:\(http.port)").status == 200)
                let configs = """
                      - job_name: slipway
                        static_configs: [{ targets: ["127.0.0.1:\(http.port)"] }]
                      - job_name: haproxy
                        static_configs: [{ targets: ["127.0.0.1:\(stats)"] }]

                    """
                try await PrometheusServer.with(in: ops.root, scrapeConfigs: configs) { prometheus in
                    let queries: [String: Double] = [
                        #"slipway_deployments_total{env="production",result="succeeded"}"#: 1.0,
                        #"slipway_instances{env="production",version="1.0.0",state="serving"}"#: 2,
                        #"count(slipway_deployment_duration_seconds_bucket{env="production"}) > bool 0"#: 1,
                        #"sum(haproxy_server_status{proxy="app",state="UP"})"#: 2,
                        #"count(haproxy_frontend_current_sessions{proxy="front"})"#: 1,
                    ]
                    for (query, expected) in queries {
                        let value = await prometheus.wait(for: query, toBe: expected)
                        let metrics = (try? RawHTTP.get(host: "127.0.0.1", port: http.port, path: "/metrics"))?.body ?? ""
                        #expect(value == expected, "\(query): \(String(describing: value)); the daemon serves:\n\(metrics)")
                    }
                }
            }
        }
    }

    /// Runs headless Chromium on `url` (its own profile folder, removed after); with `screenshot`
    /// it writes a PNG there, otherwise returns the DOM after the page's script ran.
    func chromium(_ url: String, in root: URL, screenshot: URL? = nil) throws -> String {
        let profile = root.appendingPathComponent("chromium-\(UUID().uuidString.prefix(6))")
        defer { try? FileManager.default.removeItem(at: profile) }
        let output = screenshot.map { ["--screenshot=\($0.path)", "--window-size=1280,800"] } ?? ["--dump-dom"]
        let result = try Command.run(URL(fileURLWithPath: "/usr/bin/chromium"), [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--user-data-dir=\(profile.path)",
            "--virtual-time-budget=2000",
        ] + output + [url], timeout: .seconds(60))
        return result.stdout
    }

    @Test("headless Chromium opens the status page during a canary and sees its step change; a screenshot is kept")
    func pageDuringCanary() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try await DaemonProcess.with(ops) { daemon in
                try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
                #expect(try await eventually { try records(ops) == 1 }, "\(daemon.output)")
                let http = try #require(await address(ops), "\(daemon.output)")
                let page = "http://127.0.0.1:\(http.port)/"
                let idle = try chromium(page, in: ops.root)
                #expect(idle.contains("web 1.0.0") && idle.contains("succeeded"), "the page shows what runs: \(idle.prefix(2000))")
                let client = LoadClient(port: port)
                defer { _ = client.stop() }
                try ops.commit("Environments/production.yaml", testManifest(
                    version: "2.0.0", listen: port, strategy: "canary: { steps: [25, 50, 100], stepDuration: 4s, analysisInterval: 1s }",
                    rollback: CanaryTests.policy))
                var steps: [String] = [], screenshot = false
                let artifacts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                    .appendingPathComponent(".build/test-artifacts")
                try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
                let picture = artifacts.appendingPathComponent("status-page-canary.png")
                let deadline = ContinuousClock.now + .seconds(60)
                while Set(steps.filter { $0.contains("step ") }).count < 2, try records(ops) < 2, ContinuousClock.now < deadline {
                    let dom = try chromium(page, in: ops.root)
                    if let step = dom.range(of: #"class="step">[^<]*"#, options: .regularExpression).map({ String(dom[$0].dropFirst(13)) }) {
                        steps.append(step)
                        if !screenshot, step.contains("step ") {
                            _ = try chromium(page, in: ops.root, screenshot: picture)
                            screenshot = true
                        }
                    }
                }
                let distinct = Set(steps.filter { $0.contains("step ") })
                #expect(distinct.count >= 2, "the page showed the canary's step change: \(steps)")
                #expect(FileManager.default.fileExists(atPath: picture.path), "screenshot kept at \(picture.path)")
                #expect(try await eventually(within: 60) { try records(ops) == 2 }, "\(daemon.output)")
            }
        }
    }

    /// An open TCP connection to 127.0.0.1:`port` that sends nothing.
    func silentConnection(_ port: Int) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        return fd
    }

    @Test("a client holding 40 silent connections stops no deployment, and once it lets go the page answers; nothing but GET is served")
    func heldConnections() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try await DaemonProcess.with(ops) { daemon in
                try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", replicas: 1, listen: port))
                #expect(try await eventually { try records(ops) == 1 }, "\(daemon.output)")
                let http = try #require(await address(ops), "\(daemon.output)")
                var held = (0..<40).map { _ in silentConnection(http.port) }
                defer { held.forEach { close($0) } }
                try ops.commit("Environments/production.yaml", testManifest(version: "2.0.0", replicas: 1, listen: port))
                #expect(try await eventually { try records(ops) == 2 }, "the daemon deploys while every slot is held: \(daemon.output)")
                held.forEach { close($0) }
                held = []
                #expect(await eventually { (try? RawHTTP.get(host: "127.0.0.1", port: http.port, path: "/api/environments"))?.body.contains("2.0.0") == true })
                let post = try Command.run(URL(fileURLWithPath: "/usr/bin/curl"), ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "http://127.0.0.1:\(http.port)/api/environments"])
                #expect(post.stdout == "405", "\(post.output)")
            }
        }
    }
}
