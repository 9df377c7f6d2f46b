import Foundation
import Testing
@testable import SlipwayRecords
@testable import SlipwayTraffic

@Suite("Pure builders: HAProxy config and commands, stats, trailers, templates")
struct BuilderTests {
    let settings = FrontSettings(listen: "127.0.0.1:8080", healthPath: "/healthz", expectStatus: 200,
                                 intervalMilliseconds: 1000, timeoutMilliseconds: 500, rise: 2, fall: 3)

    @Test("the config listens, checks health and lists the running servers")
    func config() {
        let text = HAProxyConfig.render(settings, servers: [BackendServer(name: "web-a", port: 9001): 100],
                                        socket: "/s/admin.sock", pidFile: "/s/haproxy.pid")
        #expect(text.contains("    bind 127.0.0.1:8080\n"))
        #expect(text.contains("    stats socket /s/admin.sock mode 600 level admin\n"))
        #expect(text.contains("    option httpchk GET /healthz\n    http-check expect status 200\n"))
        #expect(text.contains("    timeout check 500ms\n"))
        #expect(text.contains("    server web-a 127.0.0.1:9001 check inter 1000ms rise 2 fall 3 weight 100\n"))
    }

    @Test("a new server starts at weight 0 with its health forced down until checks pass")
    func addServer() {
        #expect(RuntimeCommand.add(BackendServer(name: "web-b", port: 9002), settings: settings) == [
            "add server app/web-b 127.0.0.1:9002 check inter 1000ms rise 2 fall 3 weight 0",
            "enable server app/web-b",
            "set server app/web-b health down",
            "enable health app/web-b",
        ])
        #expect(RuntimeCommand.drain("web-b") == "set server app/web-b state drain")
        #expect(RuntimeCommand.delete("web-b") == "del server app/web-b")
        #expect(RuntimeCommand.isFailure("\n\nNo such server.\n\n"))
        #expect(!RuntimeCommand.isFailure("New server registered.\n\n"))
    }

    @Test("show stat CSV becomes per-server stats")
    func stats() {
        let csv = """
            # pxname,svname,scur,status,weight,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,rtime,check_status
            app,web-a,2,UP,100,0,90,0,5,5,0,12,L7OK
            app,web-b,0,DOWN 1/2,0,0,0,0,0,0,0,0,L7OK
            app,web-c,0,MAINT,0,0,0,0,0,0,0,0,
            app,BACKEND,2,UP,100,0,90,0,5,5,0,12,

            """
        let stats = StatParser.parse(csv)
        #expect(stats.map(\.name) == ["web-a", "web-b", "web-c"])
        #expect(stats[0].health == .up && stats[0].responses == 100 && stats[0].serverErrors == 5 && stats[0].currentSessions == 2)
        #expect(stats[0].responseTimeMilliseconds == 12)
        #expect(stats[1].health == .starting)
        #expect(stats[2].health == .maintenance)
    }

    func record(result: DeploymentResult = .succeeded, reason: String? = nil) -> DeploymentRecord {
        let started = Date(timeIntervalSince1970: 1_795_720_500)  // 2026-11-26T19:15:00Z
        return DeploymentRecord(
            deployment: DeploymentRecord.id(startedAt: started, trigger: "a1b2c3d4e5f6"), environment: "production",
            service: "web", version: "1.4.2", previousVersion: "1.4.1", result: result, reason: reason, strategy: "rolling",
            trigger: "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2", triggerAuthor: "Pat <pat@example.com>",
            triggerSubject: "Release | 1.4.2", manifest: "0123456789012345678901234567890123456789",
            started: started, finished: started.addingTimeInterval(12.5),
            changes: [FieldChange(field: "version", from: "1.4.1", to: "1.4.2")],
            phases: [PhaseReport(name: "production", outcome: .passed, milliseconds: 12_000,
                                 steps: [StepReport(name: "batch 1/1", outcome: .passed, milliseconds: 2_500, detail: "ok")])],
            instances: [InstanceSummary(id: "web-1", version: "1.4.2", address: "127.0.0.1:9001", pid: 42)],
            logs: result == .failed ? [InstanceLog(instance: "web-2", lines: ["boom"])] : [])
    }

    @Test("record commits carry every trailer, and trailers parse back")
    func trailers() {
        let message = Trailers.message(for: record())
        #expect(message.hasPrefix("deploy(production): web 1.4.1 → 1.4.2 succeeded\n"))
        let trailers = Trailers.parse(message)
        #expect(trailers == [
            "Slipway-Environment": "production", "Slipway-Service": "web", "Slipway-Version": "1.4.2",
            "Slipway-Previous-Version": "1.4.1", "Slipway-Result": "succeeded",
            "Slipway-Deployment": "20261126T191500Z-a1b2c3d", "Slipway-Trigger": "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2",
        ])
        #expect(record().path == "Deployments/production/2026/11/20261126T191500Z-a1b2c3d.md")
        #expect(Trailers.parse("just a subject\n\nand a body: with a colon inside text\nthat is prose") == [:])
    }

    @Test("a record renders Markdown with machine-readable front matter that reads back")
    func renderRecord() throws {
        let text = try RecordTemplates().render(record(result: .failed, reason: "batch 1 never became healthy"))
        let back = try RecordTemplates.parseRecord(text)
        #expect(back.deployment == "20261126T191500Z-a1b2c3d")
        #expect(back.result == .failed)
        #expect(back.logs == [InstanceLog(instance: "web-2", lines: ["boom"])])
        #expect(text.contains("# production: web 1.4.1 → 1.4.2 — failed"))
        #expect(text.contains("**Reason:** batch 1 never became healthy"))
        #expect(text.contains("| `version` | 1.4.1 | 1.4.2 |"))
        #expect(text.contains("| batch 1/1 | passed | 2.50s | ok |"))
        #expect(text.contains(#"Release \| 1.4.2 (Pat <pat@example.com>)"#))
        #expect(text.contains("### Last log lines of web-2\n\n```\nboom\n```"))
    }

    @Test("an ops repo's own template wins over the built-in one")
    func override() throws {
        let templates = try RecordTemplates(overrides: ["record.md.mustache": "---\n{{{frontMatter}}}\n---\nCustom {{{version}}}\n"])
        let text = try templates.render(record())
        #expect(text.hasSuffix("Custom 1.4.2\n"))
        #expect(try RecordTemplates.parseRecord(text).version == "1.4.2")
    }

    @Test("secret values are redacted from text")
    func redaction() {
        let redactor = Redactor(secrets: ["s3cr3t-value", "ab"])
        #expect(redactor.redact("DB_PASSWORD=s3cr3t-value; ab") == "DB_PASSWORD=***; ab")
    }
}
