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
        #expect(scope.environments(first, in: environments, full: false) == nil)
        _ = scope.planned(plan([("staging", .none), ("production", .none), ("qa", .none), ("web", .none)], inputs: first), scope: nil)

        #expect(scope.environments(first, in: environments, full: false) == [], "nothing changed: nothing is planned")
        #expect(scope.environments(first, in: environments, full: true) == nil)
        #expect(scope.environments(inputs(["staging": "1", "production": "2", "qa": "1", "web": "1"]), in: environments, full: false) == ["staging", "production"])
        #expect(scope.environments(inputs(["staging": "1", "production": "1", "qa": "1", "web": "1"], statuses: ["qa": "3"]), in: environments, full: false) == ["qa"])
        #expect(scope.environments(inputs(["staging": "1", "production": "1", "qa": "1"]), in: environments, full: false) == ["web"], "a deleted manifest")
        var trusted = first
        trusted.trust = Self.blob("9")
        #expect(scope.environments(trusted, in: environments, full: false) == nil, "Trust/ changed: every verdict may have")
    }

    @Test("an environment whose plan asked for a run is planned again until it asks for nothing; held ones are kept across partial plans")
    func pendingAndHeld() {
        var scope = PlanScope()
        let first = inputs(["staging": "1", "production": "1", "qa": "1", "web": "1"])
        _ = scope.planned(plan([("staging", .none), ("production", .none), ("qa", .update), ("web", .held)], inputs: first), scope: nil)
        #expect(scope.pending == ["qa"])
        #expect(scope.held == ["web": "no WEB_TOKEN"])

        #expect(scope.environments(first, in: environments, full: false) == ["qa"], "the run's end plans it again")
        _ = scope.planned(plan([("qa", .none)], inputs: first), scope: ["qa"])
        #expect(scope.pending.isEmpty)
        #expect(scope.held == ["web": "no WEB_TOKEN"], "a partial plan does not forget what it did not plan")

        let fixed = inputs(["staging": "1", "production": "1", "qa": "1", "web": "2"])
        _ = scope.planned(plan([("web", .create)], inputs: fixed), scope: ["web"])
        #expect(scope.held.isEmpty && scope.pending == ["web"])
    }
}
