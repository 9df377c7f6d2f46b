import Foundation
import Testing
@testable import SlipwayRecords
import SlipwayCore

/// Records and status files as values: names, front matter, the Markdown body.
@Suite("Records: file names, front matter, body")
struct RecordTests {
    static func record(result: DeploymentResult = .succeeded, reason: String? = nil, previous: String? = "1.4.1",
                       phases: [PhaseReport]? = nil, logs: [InstanceLog] = []) -> DeploymentRecord {
        let started = Date(timeIntervalSince1970: 1_795_720_500)  // 2026-11-26T19:15:00Z
        var record = DeploymentRecord(
            deployment: DeploymentID(startedAt: started, trigger: "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2"), environment: "production",
            service: "web", version: "1.4.2", previousVersion: previous, result: result, reason: reason, strategy: .rolling,
            trigger: "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2", triggerAuthor: "Pat <pat@example.com>",
            triggerSubject: "Release | 1.4.2", manifest: "0123456789012345678901234567890123456789",
            started: started, finished: started.addingTimeInterval(13),  // whole seconds, as front matter keeps them
            changes: previous == nil ? [] : [FieldChange(field: "version", from: "1.4.1", to: "1.4.2")],
            phases: phases ?? [
                PhaseReport(name: "pre-flight", outcome: .passed, milliseconds: 14, steps: [
                    StepReport(name: "signature", outcome: .passed, milliseconds: 0, detail: "b4ee822 signed by alice@example.com (SSH)"),
                    StepReport(name: "configuration", outcome: .passed, milliseconds: 1, detail: ""),
                ]),
                PhaseReport(name: "staging", outcome: .skipped, milliseconds: 0,
                            steps: [StepReport(name: PhaseReport.skippedStep, outcome: .skipped, milliseconds: 0, detail: "no upstream environment")]),
                PhaseReport(name: "production", outcome: .passed, milliseconds: 12_000,
                            steps: [StepReport(name: "batch 1/1", outcome: .passed, milliseconds: 2_500, detail: "")]),
            ],
            instances: [InstanceSummary(id: "web-1", version: "1.4.2"), InstanceSummary(id: "web-2", version: "1.4.2")],
            logs: logs)
        record.timing = Timing(totalMilliseconds: 12_500, waitingMilliseconds: 12_400)
        return record
    }

    @Test("a record's path is its day folder and a name that says deployment, versions and result")
    func path() {
        #expect(Self.record().path == "Deployments/production/2026-11/26/20261126T191500.000Z-a1b2c3d_1.4.1_1.4.2_succeeded.md")
        #expect(Self.record(result: .rolledBack, previous: nil).file.name == "20261126T191500.000Z-a1b2c3d_none_1.4.2_rolled-back.md")
        let parsed = RecordFile(name: "20261126T191500Z-a1b2c3d-2_1.4.1_1.4.2-rc.1+b7_rolled-back.md")
        #expect(parsed == RecordFile(deployment: "20261126T191500Z-a1b2c3d-2", previousVersion: "1.4.1", version: "1.4.2-rc.1+b7", result: .rolledBack))
        #expect(RecordFile(name: "20261126T191500Z-a1b2c3d_none_2.0_failed.md")?.previousVersion == nil)
    }

    @Test("ids carry milliseconds, so the runs of one second sort in the order they started; ids without them still read")
    func ids() throws {
        let second = Date(timeIntervalSince1970: 1_795_720_500)
        let first = DeploymentID(startedAt: second.addingTimeInterval(0.05), trigger: "ffffff0000000000000000000000000000000000")
        let next = DeploymentID(startedAt: second.addingTimeInterval(0.951), trigger: "0000000000000000000000000000000000000000")
        #expect(first.rawValue == "20261126T191500.050Z-ffffff0" && next.rawValue == "20261126T191500.951Z-0000000" && first < next)
        #expect(next.started == second.addingTimeInterval(0.951))
        #expect(Timestamp.parseCompact("20261126T191500Z-a1b2c3d") == second)
        #expect(Timestamp.parseCompact("20261126T191500.9Z-a1b2c3d") == nil && Timestamp.parseCompact("20261332T191500Z-x") == nil)
        var line: [UInt8] = []
        #expect(Timestamp.appendISO(fromCompact: next.rawValue, to: &line) && String(decoding: line, as: UTF8.self) == "2026-11-26T19:15:00Z")
        #expect(next.trigger == "0000000")
        #expect(DeploymentID(text: "20261126T191500Z-a1b2c3d-2") != nil && DeploymentID(text: "20261126T191500Z-a1b2c3") == nil && DeploymentID(text: "../x") == nil)
    }

    @Test("the folders of the layout are months and days")
    func folders() {
        #expect(RecordFile.isMonthFolder("2026-11") && !RecordFile.isMonthFolder("2026") && !RecordFile.isMonthFolder("2026-1x"))
        #expect(RecordFile.isDayFolder("07") && !RecordFile.isDayFolder("7") && !RecordFile.isDayFolder("ab"))
        #expect(DeploymentID(text: "20261126T191500.000Z-a1b2c3d")?.dayFolder == "2026-11/26")
    }

    @Test("a name never carries what a version must not: a slash, a dot first, an underscore that would blur the fields")
    func unsafeNames() {
        let hostile = RecordFile(deployment: "20261126T191500Z-a1b2c3d", previousVersion: "../../Environments/x", version: "a/b", result: .failed)
        #expect(hostile.name == "20261126T191500Z-a1b2c3d_invalid_invalid_failed.md")
        #expect(hostile.path(in: "production").split(separator: "/").count == 5)
        // A version with `_` is written, but history reads that record itself rather than guess.
        #expect(RecordFile(name: RecordFile(deployment: "20261126T191500Z-a1b2c3d", previousVersion: "1_0", version: "2", result: .succeeded).name) == nil)
        #expect(RecordFile(name: "20261126T191500Z-a1b2c3d.md") == nil)
        #expect(RecordFile.deployment(inName: "20261126T191500Z-a1b2c3d.md") == "20261126T191500Z-a1b2c3d")
        #expect(RecordFile.deployment(inName: "20261126T191500Z-a1b2c3d..x.md") == nil)
        #expect(RecordFile.deployment(inName: "notes.md") == nil)
    }

    @Test("scalars are plain only where every YAML reader reads the same string back")
    func scalars() {
        for plain in ["1.4.2", "web", "production", "Pat <pat@example.com>", "a1b2c3d4e5f6", "20261126T191500Z-a1b2c3d", "batch 1/3", "1 × 2.0.0"] {
            #expect(YAMLText.scalar(plain) == plain, "\(plain)")
        }
        for quoted in ["1.10", "1", "1e3", ".5", "0x1F", "no", "On", "null", "~", "2026-11-26", "a: b", "a #b", "[x]", "", " lead", "trail ", "x\ny", "-1", "'q'"] {
            #expect(YAMLText.scalar(quoted).hasPrefix("\""), "\(quoted) must be quoted")
        }
        #expect(YAMLText.quoted("a\"b\\c\nd\u{7}") == #""a\"b\\c\nd\u0007""#)
    }

    @Test("front matter reads back into the same record, strings with YAML's special characters included")
    func roundTrip() throws {
        var record = Self.record(result: .rolledBack, reason: "error rate: 20% vs 0.1% # at step 1", phases: [
            PhaseReport(name: "production", outcome: .failed, milliseconds: 3_000, steps: [
                StepReport(name: "step 1/2: 25% to 1.4.2", outcome: .failed, milliseconds: 2_000, detail: "rolled back (error-rate): \"boom\"\nsecond line"),
                StepReport(name: "restore", outcome: .skipped, milliseconds: 0, detail: "nothing to restore"),
            ]),
        ])
        record.triggerSubject = "Release: 1.10 — no"
        record.upstreamDeployment = "20261126T190000Z-0000000"
        record.analysis = [StepAnalysis(step: "step 1/2", weight: 25, milliseconds: 2_000, windows: 2, inconclusiveWindows: 1,
                                        canary: Metrics(requests: 120, errors: 24, errorRate: 20, responseMilliseconds: 3),
                                        baseline: Metrics(requests: 360, errors: 0, errorRate: 0.1, responseMilliseconds: 2),
                                        decision: .rolledBack, reason: "error rate 20% over 0.1%")]
        record.rollback = RollbackReport(trigger: .errorRate, reason: "error rate 20% over 0.1%", detectedAt: record.finished,
                                         switchMilliseconds: 1.55, thresholds: "error rate +5 points", afterwards: "2 drained")
        let back = try FrontMatter.parseRecord(RecordTemplates().render(record))
        #expect(back.reason == record.reason && back.triggerSubject == record.triggerSubject && back.upstreamDeployment == record.upstreamDeployment)
        #expect(back.phases == record.phases)
        #expect(back.analysis == record.analysis)
        #expect(back.rollback == record.rollback)
        #expect(back.instances == record.instances && back.changes == record.changes && back.timing == record.timing)
        #expect(back.started == record.started && back.finished == record.finished)
    }

    @Test("a passed step is its name and time; with what it found when it found something (who signed), in both halves")
    func passedSteps() throws {
        let record = Self.record(logs: [InstanceLog(instance: "gate ci", lines: ["CI: 2 tests failed", "x: \"y\""])])
        let text = RecordTemplates().render(record)
        #expect(text.contains("steps: [signature: {ms: 0, detail: b4ee822 signed by alice@example.com (SSH)}, configuration: 1]"))
        #expect(text.contains("- pre-flight, 14 ms: signature: b4ee822 signed by alice@example.com (SSH) · configuration\n"))
        let back = try FrontMatter.parseRecord(text)
        #expect(back.phases == record.phases)
        #expect(back.logs == record.logs)
    }

    @Test("another YAML reader (PyYAML) reads the same values from the front matter")
    func otherReader() throws {
        var record = Self.record(reason: "error rate: 20%")
        record.version = "1.10"
        record.triggerSubject = "yes: \"quoted\" # not a comment"
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-front-\(UUID().uuidString).yaml")
        try Data(try FrontMatter.text(of: RecordTemplates().render(record)).utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let script = "import sys, yaml, json; d = yaml.safe_load(open(sys.argv[1])); print(json.dumps([d['version'], d['triggerSubject'], d['reason'], d['changes'], d['instances'], d['phases'][0]['steps']], ensure_ascii=False))"
        let result = try Command.run(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", script, file.path])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) ==
            #"["1.10", "yes: \"quoted\" # not a comment", "error rate: 20%", {"version": ["1.4.1", "1.4.2"]}, {"1.4.2": ["web-1", "web-2"]}, [{"signature": {"ms": 0, "detail": "b4ee822 signed by alice@example.com (SSH)"}}, {"configuration": 1}]]"#)
    }

    @Test("a plain success is short: title, one paragraph, the steps folded away")
    func plainSuccess() throws {
        let text = RecordTemplates().render(Self.record())
        let body = text.components(separatedBy: "\n---\n")[1]
        #expect(body.hasPrefix("# production: web 1.4.1 → 1.4.2 succeeded\n\nRolling update in 12.5 s. Serving 1.4.2 × 2.\n"), "\(body)")
        #expect(body.contains("<details><summary>3 steps passed; staging skipped: no upstream environment</summary>"))
        #expect(!text.contains("pid") && !text.contains("127.0.0.1"))
    }

    @Test("a failure says the reason in the title, then the failing step and the log tail, before anything else")
    func failureFirst() throws {
        let record = Self.record(result: .failed, reason: "1 instance(s) of 1.4.2 did not pass the health check", phases: [
            PhaseReport(name: "production", outcome: .failed, milliseconds: 3_000, steps: [
                StepReport(name: "batch 1/2", outcome: .failed, milliseconds: 3_000, detail: "1 instance(s) of 1.4.2 did not pass the health check"),
            ]),
        ], logs: [InstanceLog(instance: "web-3", lines: ["panic: ```boom```"])])
        let body = RecordTemplates().render(record).components(separatedBy: "\n---\n")[1]
        #expect(body.hasPrefix("# production: web 1.4.1 → 1.4.2 failed: 1 instance(s) of 1.4.2 did not pass the health check\n"))
        let failed = try #require(body.range(of: "**Failed at production › batch 1/2.**"))
        let logs = try #require(body.range(of: "Last log lines of web-3:\n\n````\npanic: ```boom```\n````"))
        let folded = try #require(body.range(of: "<details>"))
        #expect(failed.lowerBound < logs.lowerBound && logs.lowerBound < folded.lowerBound)
    }

    @Test("a first deployment names its manifest instead of listing defaults")
    func firstDeployment() throws {
        let text = RecordTemplates().render(Self.record(previous: nil))
        #expect(text.contains("Initial manifest `0123456`."))
        #expect(text.contains("changes: {}\n"))
    }

    @Test("status files read back, including the layout of the release before this one")
    func status() throws {
        let status = EnvironmentStatus(environment: "production", service: "web", version: "1.10", commit: "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2", manifest: "0123456789012345678901234567890123456789",
                                       since: "2026-11-26T19:15:00Z", instances: [InstanceSummary(id: "web-1", version: "1.10")],
                                       lastResult: .failed, lastDeployment: "20261126T191500Z-a1b2c3d", failedVersion: "2.0",
                                       failedReason: "boom: \"x\"")
        #expect(try FrontMatter.parseStatus(try RecordTemplates().render(status)) == status)
        let before = """
            ---
            environment: production
            service: web
            version: 1.0.0
            instances:
            - id: web-1
              version: 1.0.0
              address: 127.0.0.1:9001
              pid: 42
            lastResult: succeeded
            lastDeployment: 20261126T191500Z-a1b2c3d
            ---
            """
        #expect(try FrontMatter.parseStatus(before).instances == [InstanceSummary(id: "web-1", version: "1.0.0")])
    }

    @Test("history reads a few fields of a record without a YAML parser, in either layout")
    func scanner() {
        let old = Data("---\ndeployment: x\nversion: '1.10'\npreviousVersion: \"0.9\"\nresult: rolled-back # a comment\nphases:\n- name: x\n---\nversion: 9\n".utf8)
        #expect(FrontMatter.scalars(["version", "previousVersion", "result", "service"], in: old) ==
            ["version": "1.10", "previousVersion": "0.9", "result": "rolled-back"])
        #expect(FrontMatter.scalars(["version"], in: Data("no front matter\nversion: 1\n".utf8)).isEmpty)
    }

    @Test("an ops repo's own template wins over the built-in one, and the front matter stays Slipway's")
    func override() throws {
        let templates = RecordTemplates(overrides: ["record.md.mustache": "---\n{{{frontMatter}}}\n---\nCustom {{{version}}}\n"])
        let text = templates.render(Self.record())
        #expect(text.hasSuffix("Custom 1.4.2\n"))
        #expect(try RecordTemplates.parseRecord(text).version == "1.4.2")
    }

    @Test("record commits carry every trailer, and trailers parse back")
    func trailers() {
        let message = Trailers.message(for: Self.record())
        #expect(message.hasPrefix("deploy(production): web 1.4.1 → 1.4.2 succeeded\n"))
        #expect(Trailers.parse(message) == [
            "Slipway-Environment": "production", "Slipway-Service": "web", "Slipway-Version": "1.4.2",
            "Slipway-Previous-Version": "1.4.1", "Slipway-Result": "succeeded",
            "Slipway-Deployment": "20261126T191500.000Z-a1b2c3d", "Slipway-Trigger": "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2",
        ])
        #expect(Trailers.parse("just a subject\n\nand a body: with a colon inside text\nthat is prose") == [:])
    }
}
