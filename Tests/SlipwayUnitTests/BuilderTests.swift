import Foundation
import Testing
@testable import SlipwayRecords
@testable import SlipwayHost
@testable import SlipwayTraffic
@testable import SlipwayEngine

@Suite("Pure builders: HAProxy config and commands, stats, redaction")
struct BuilderTests {
    let settings = FrontSettings(listen: "127.0.0.1:8080", healthPath: "/healthz", expectStatus: 200,
                                 intervalMilliseconds: 1000, timeoutMilliseconds: 500, rise: 2, fall: 3)

    @Test("the config listens, checks health and lists the running servers")
    func config() {
        let text = HAProxyConfig.render(settings, servers: [BackendServer(name: "web-a", port: 9001): 100],
                                        socket: "/s/admin.sock", pidFile: "/s/haproxy.pid")
        #expect(text.contains("    bind 127.0.0.1:8080\n"))
        #expect(text.contains("    stats socket /s/admin.sock mode 600 level admin expose-fd listeners\n    stats timeout 30s\n    noreuseport\n"))
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
            # pxname,svname,scur,status,weight,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,rtime,check_status,check_code
            app,web-a,2,UP,100,0,90,0,5,5,0,12,L7OK,200
            app,web-b,0,DOWN 1/2,0,0,0,0,0,0,0,0,* L7STS,503
            app,web-c,0,MAINT,0,0,0,0,0,0,0,0,,
            app,BACKEND,2,UP,100,0,90,0,5,5,0,12,,

            """
        let stats = StatParser.parse(csv)
        #expect(stats.map(\.name) == ["web-a", "web-b", "web-c"])
        #expect(stats[0].health == .up && stats[0].responses == 100 && stats[0].serverErrors == 5 && stats[0].currentSessions == 2)
        #expect(stats[0].responseTimeMilliseconds == 12)
        #expect(stats[1].health == .starting)
        #expect(stats[0].lastCheck == "passed")
        #expect(stats[1].lastCheck == "HTTP 503", "a check still running (\"* L7STS\") says what the last one found")
        #expect(stats[2].lastCheck == "no check yet")
        #expect(stats[2].health == .maintenance)
    }

    @Test("secret values are redacted from text: whole values from 4 characters, pieces from 8, never a value under 4")
    func redaction() {
        let redactor = Redactor(secrets: ["s3cr3t-value", "ab", "pin1"])
        #expect(redactor.redact("DB_PASSWORD=s3cr3t-value; ab") == "DB_PASSWORD=***; ab")
        #expect(redactor.redact("pin: pin1, pin") == "pin: ***, pin", "a 4-character value is masked whole; a 3-character piece is not")
        #expect(redactor.redact("s3cr3t-v and -value") == "*** and -value", "8 characters of a value are a piece; 6 are not")
        #expect(redactor.redact("nothing here") == "nothing here")
    }

    @Test("a multi-line key is masked whole and line by line; a value printed in two writes is masked in both halves")
    func multiLineRedaction() {
        let key = (["-----BEGIN OPENSSH PRIVATE KEY-----"] + (0..<6).map { _ in String((0..<70).map { _ in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".randomElement() ?? "A" }) }
                   + ["AB==", "-----END OPENSSH PRIVATE KEY-----"]).joined(separator: "\n")
        let token = "tok_" + UUID().uuidString
        let redactor = Redactor(secrets: [key, token])
        // "(ready)": a line starting with a letter could continue the key's run (its first line may start with it) and be masked too.
        let lines = ["starting", "loaded key:"] + key.split(separator: "\n").map(String.init) + ["(ready)"]
        #expect(redactor.redact(lines: lines) == ["starting", "loaded key:", "***", "(ready)"])
        // The last 20 lines of a log begin inside the key: each line of it left is still masked.
        let tail = redactor.redact(lines: Array(lines.dropFirst(5)))
        #expect(tail.allSatisfy { $0 == "***" || $0 == "(ready)" }, "\(tail)")

        let split = ["token part one: " + token.prefix(18), "another line", String(token.dropFirst(18)) + " (part two)"]
        let masked = redactor.redact(lines: split)
        #expect(masked == ["token part one: ***", "another line", "*** (part two)"], "\(masked)")

        let unicode = Redactor(secrets: ["pässwörd-ü-geheim"])
        #expect(unicode.redact("x=pässwörd-ü-geheim.") == "x=***.")
        #expect(unicode.redact("ä pässwörd-ü") == "ä ***", "a mask ends on a character boundary")
        let long = String(repeating: token, count: 20_000)  // 800 KB of secret: one pass, not a quadratic one
        #expect(redactor.redact(long) == "***")
    }

    @Test("errors read as sentences: a file error names its path and reason, on one line")
    func errorSentences() {
        #expect(ErrorText.sentence(CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: "/x/y"])) == "/x/y: no such file or directory")
        do {
            _ = try Data(contentsOf: URL(fileURLWithPath: "/nonexistent/file"))
        } catch {
            #expect(ErrorText.sentence(error) == "/nonexistent/file: no such file or directory")
        }
        #expect(ErrorText.sentence(TestFailure("first\n  second\n")) == "first; second")
    }

    @Test("promotion sets the top-level version however its key is quoted, and keeps a comment")
    func promotionSetsVersion() {
        for key in ["version:", "\"version\":", "'version':"] {
            let text = "service: web\n\(key) \"1.0.0\" # pinned\nrun: { command: [web] }\n  version: nested\n"
            #expect(PipelineRun.settingVersion("2.0.0", in: text) == "service: web\n\(key) \"2.0.0\" # pinned\nrun: { command: [web] }\n  version: nested\n")
        }
    }
}
