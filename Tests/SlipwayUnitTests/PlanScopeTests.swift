import Foundation
import Testing
@testable import SlipwayDaemon
@testable import SlipwayEngine
import SlipwayManifest
import SlipwayCore

/// Which environments a daemon pass plans, from the files two plans read (no repository: the
/// inputs are what the planner would report).
@Suite("Plan scope: a pass plans what changed")
struct PlanScopeTests {
    /// staging ← production (one lane), qa and web alone.
    let environments = EnvironmentSet(files: [
        PlanScopeTests.file("staging", port: 8081),
        PlanScopeTests.file("production", port: 8082, upstream: "staging"),
        PlanScopeTests.file("qa", port: 8083),
        PlanScopeTests.file("web", port: 8084),
    ])

    static func file(_ name: String, port: Int, upstream: String? = nil) -> ManifestFile {
        let text = "service: \(name)\nversion: \"1.0.0\"\n\(upstream.map { "upstream: \($0)\n" } ?? "")run:\n  command: [\"./bin/web\", \"--port\", \"{port}\"]\n  replicas: 1\ntraffic: { listen: \"127.0.0.1:\(port)\" }\n"
        return ManifestFile(path: "Environments/\(name).yaml", data: Data(text.utf8))
    }

    static func blob(_ digit: Character) -> ObjectID { ObjectID(hex: String(repeating: digit, count: 40))! }

    func inputs(_ manifests: [String: Character], statuses: [EnvironmentName: Character] = [:]) -> PlanInputs {
        var inputs = PlanInputs()
        inputs.manifests = Dictionary(uniqueKeysWithValues: manifests.map { ("Environments/\($0.key).yaml", Self.blob($0.value)) })
        inputs.statuses = statuses.mapValues(Self.blob)
        return inputs
    }

    func plan(_ actions: [(EnvironmentName, EnvironmentPlan.Action)], inputs: PlanInputs) -> Plan {
        Plan(commit: Self.blob("f"), environments: actions.map { name, action in
            EnvironmentPlan(environment: name, action: action, service: name.rawValue, desiredVersion: "1.0.0", deployedVersion: nil, changes: [],
                            reason: action == .held ? "no WEB_TOKEN" : nil)
        }, invalid: [], inputs: inputs)
    }

    @Test("everything on the first pass and on a retry of held environments; then only a changed file's environment, with its lane")
    func changedFilesAndLanes() {
        var scope = PlanScope()
        let first = inputs(["staging": "1", "production": "1", "qa": "1", "web": "1"])
        #expect(scope.environments(first, in: environments, finished: [], full: false) == nil)
        _ = scope.planned(plan([("staging", .none), ("production", .none), ("qa", .none), ("web", .none)], inputs: first), scope: nil, of: environments)

        #expect(scope.environments(first, in: environments, finished: [], full: false) == [], "nothing changed: nothing is planned")
        #expect(scope.environments(first, in: environments, finished: [], full: true) == nil)
        #expect(scope.environments(inputs(["staging": "1", "production": "2", "qa": "1", "web": "1"]), in: environments, finished: [], full: false) == ["staging", "production"])
        #expect(scope.environments(inputs(["staging": "1", "production": "1", "qa": "1", "web": "1"], statuses: ["qa": "3"]), in: environments, finished: [], full: false) == ["qa"])
        #expect(scope.environments(inputs(["staging": "1", "production": "1", "qa": "1"]), in: environments, finished: [], full: false) == ["web"], "a deleted manifest")
        var trusted = first
        trusted.trust = Self.blob("9")
        #expect(scope.environments(trusted, in: environments, finished: [], full: false) == nil, "Trust/ changed: every verdict may have")
    }

    @Test("an environment whose plan asked for a run is planned again until it asks for nothing; held ones are kept across partial plans")
    func pendingAndHeld() {
        var scope = PlanScope()
        let first = inputs(["staging": "1", "production": "1", "qa": "1", "web": "1"])
        _ = scope.planned(plan([("staging", .none), ("production", .none), ("qa", .update), ("web", .held)], inputs: first), scope: nil, of: environments)
        #expect(scope.pending == ["qa"])
        #expect(scope.held == ["web": "no WEB_TOKEN"])

        #expect(scope.environments(first, in: environments, finished: [], full: false) == ["qa"], "the run's end plans it again")
        _ = scope.planned(plan([("qa", .none)], inputs: first), scope: ["qa"], of: environments)
        #expect(scope.pending.isEmpty)
        #expect(scope.held == ["web": "no WEB_TOKEN"], "a partial plan does not forget what it did not plan")

        let fixed = inputs(["staging": "1", "production": "1", "qa": "1", "web": "2"])
        _ = scope.planned(plan([("web", .create)], inputs: fixed), scope: ["web"], of: environments)
        #expect(scope.held.isEmpty && scope.pending == ["web"])
    }

    @Test("a failed manifest is planned again on every pass (a new commit of it retries it); a finished lane's end is planned; a lane as it was comes along")
    func waitingFinishedAndOldLanes() {
        var scope = PlanScope()
        let first = inputs(["staging": "1", "production": "1", "qa": "1", "web": "1"])
        _ = scope.planned(plan([("staging", .none), ("production", .none), ("qa", .waiting), ("web", .blocked)], inputs: first), scope: nil, of: environments)
        #expect(scope.pending == ["qa", "web"])
        #expect(scope.environments(first, in: environments, finished: [], full: false) == ["qa", "web"])
        #expect(scope.environments(first, in: environments, finished: ["staging"], full: false) == ["qa", "web", "staging", "production"],
                "a run of staging ended: its lane is planned")

        // production leaves staging's lane: staging comes along, as the lane was.
        let apart = EnvironmentSet(files: [
            Self.file("staging", port: 8081), Self.file("production", port: 8082),
            Self.file("qa", port: 8083), Self.file("web", port: 8084),
        ])
        #expect(scope.environments(inputs(["staging": "1", "production": "2", "qa": "1", "web": "1"]), in: apart, finished: [], full: false)
                == ["qa", "web", "staging", "production"])
    }
}
