import Foundation
import SlipwayBundle
import Testing
@testable import SlipwayManifest

@Suite("Manifest parsing and validation")
struct ManifestTests {
    let valid = """
        service: web
        version: "1.4.2"
        run:
          command: ["./bin/web", "--port", "{port}"]
          secrets: { DB_PASSWORD: env:WEB_DB_PASSWORD }
          replicas: 3
        traffic: { listen: "127.0.0.1:8080" }

        """

    func diagnostics(_ text: String, path: String = "Environments/production.yaml") -> [String] {
        do {
            _ = try ManifestParser.parse(Data(text.utf8), path: path)
            return []
        } catch {
            return error.diagnostics.map(\.description)
        }
    }

    @Test("the example manifests shipped in Environments/ are valid")
    func examplesAreValid() throws {
        let files = Defaults.environments.map { ManifestFile(path: "Environments/\($0.key)", data: Data($0.value.utf8)) }
        let set = EnvironmentSet(files: files)
        #expect(set.diagnostics.isEmpty)
        #expect(set.manifests.count == 2)
        #expect(set.ordered.map(\.rawValue) == ["staging", "production"])
    }

    @Test("defaults are applied and the model holds what was written")
    func model() throws {
        let manifest = try ManifestParser.parse(Data(valid.utf8), path: "Environments/production.yaml")
        #expect(manifest.version == "1.4.2")
        #expect(manifest.run.replicas == 3)
        #expect(manifest.run.secrets["DB_PASSWORD"]?.variable == "WEB_DB_PASSWORD")
        #expect(manifest.strategy == .rolling(RollingSpec(batchSize: 1)))
        #expect(manifest.health.http == HTTPCheck(path: "/healthz", expect: 200))
        #expect(manifest.rollback.errorRateIncrease == 5)
        #expect(manifest.traffic.listen == ListenAddress(host: "127.0.0.1", port: 8080))
    }

    @Test("an unknown key is reported at its position with a did-you-mean hint")
    func unknownKey() {
        let text = valid.replacingOccurrences(of: "  replicas: 3", with: "  replica: 3")
        #expect(diagnostics(text) == [#"Environments/production.yaml:6:3: unknown key "replica" in run (did you mean "replicas"?)"#])
    }

    @Test("malformed YAML is reported where the parser stopped")
    func malformed() {
        let found = diagnostics("service: web\nversion: [1.0\nrun: {}\n")
        #expect(found.count == 1)
        #expect(found[0].hasPrefix("Environments/production.yaml:3:"))
        #expect(found[0].contains("malformed YAML"))
    }

    @Test("a wrong type names the field and its line")
    func wrongType() {
        let text = valid.replacingOccurrences(of: "replicas: 3", with: "replicas: three")
        #expect(diagnostics(text) == ["Environments/production.yaml:6:13: run.replicas must be a whole number"])
        let shell = valid.replacingOccurrences(of: #"command: ["./bin/web", "--port", "{port}"]"#, with: #"command: "./bin/web --port {port}""#)
        #expect(diagnostics(shell) == ["Environments/production.yaml:4:12: run.command must be a list of strings (an argv array, not a shell string)"])
    }

    @Test("bad durations and percentages are refused")
    func durationsAndPercentages() {
        let text = valid + "health:\n  interval: 5 seconds\nrollback:\n  errorRateIncrease: 0.05\n  latencyIncrease: 150\n"
        #expect(diagnostics(text) == [
            "Environments/production.yaml:9:13: health.interval must be a duration such as 500ms, 10s, 15m or 1h",
            "Environments/production.yaml:11:22: rollback.errorRateIncrease must be a percentage such as 5%",
            "Environments/production.yaml:12:20: rollback.latencyIncrease must be a percentage such as 5%",
        ])
    }

    @Test("traversal paths and bad names are refused")
    func traversal() {
        let text = valid.replacingOccurrences(of: "  replicas: 3", with: "  replicas: 3\n  workingDirectory: ../../etc") + "upstream: ../staging\n"
        #expect(diagnostics(text) == [
            #"Environments/production.yaml:9:11: upstream: "../staging" is not valid (1–63 characters: lowercase letters, digits and inner dashes)"#,
            #"Environments/production.yaml:7:21: run.workingDirectory: "../../etc" is not valid (an absolute path, or a path inside the ops repo without '..')"#,
        ])
        let set = EnvironmentSet(files: [ManifestFile(path: "Environments/Prod_1.yaml", data: Data(valid.utf8))])
        #expect(set.diagnostics.map(\.description) == [#"Environments/Prod_1.yaml:1:1: "Prod_1" is not a valid environment name (1–63 characters: lowercase letters, digits and inner dashes)"#])
    }

    @Test("a secret written in by value is refused without echoing it")
    func literalSecret() {
        let text = valid.replacingOccurrences(of: "env:WEB_DB_PASSWORD", with: "hunter2-literal")
        let found = diagnostics(text)
        #expect(found == ["Environments/production.yaml:5:27: run.secrets.DB_PASSWORD must be a reference such as env:VARIABLE_NAME, never the secret itself"])
        #expect(!found.joined().contains("hunter2"))
    }

    @Test("a huge file is refused before parsing")
    func huge() {
        let text = valid + "# " + String(repeating: "x", count: 300_000) + "\n"
        #expect(diagnostics(text) == ["Environments/production.yaml:1:1: manifest is larger than the limit of 256 KiB"])
    }

    @Test("unknown placeholders, missing keys and several problems at once")
    func severalProblems() {
        let text = "service: web\nrun:\n  command: [\"web\", \"{prot}\"]\ntraffic: { listen: \"10.0.0.1:99999\" }\n"
        #expect(diagnostics(text) == [
            #"Environments/production.yaml:1:1: missing required key "version""#,
            #"Environments/production.yaml:3:20: run.command: unknown placeholder {prot} (did you mean "port"?)"#,
            #"Environments/production.yaml:4:20: traffic.listen: "10.0.0.1:99999" is not valid (host:port with an IPv4 host, localhost or *, port 1–65535)"#,
        ])
    }

    @Test("monitoring.url: http or https, a host name or an address; never a user or password")
    func monitoringURL() {
        for url in ["http://127.0.0.1:9090/-/ready", "https://prometheus.example.com/-/ready", "http://mon-1:9090", "https://mon.internal"] {
            #expect(Rules.isHTTPURL(url), "\(url)")
        }
        for url in ["ftp://mon/", "http://user:secret@mon/", "http://mon:0/", "http://mon:99999/", "http:///x", "http://mon/a b", "mon:9090"] {
            #expect(!Rules.isHTTPURL(url), "\(url)")
        }
        let text = valid + "gates:\n  monitoring: { url: \"http://user:secret@mon/\" }\n"
        #expect(diagnostics(text).first?.contains("gates.monitoring.url") == true)
        #expect(!diagnostics(text).joined().contains("secret@"))
    }

    @Test("gates.monitor without upstream is refused by validate, as apply would refuse it")
    func monitorNeedsUpstream() {
        let text = valid + "gates:\n  monitor: 10s\n"
        #expect(diagnostics(text).contains { $0.contains("gates.monitor is the soak time in the upstream environment") }, "\(diagnostics(text))")
        #expect(diagnostics(text + "upstream: staging\n").isEmpty)
    }

    @Test("upstream must name another environment, without cycles")
    func upstream() {
        let staging = valid + "upstream: production\n"
        let production = valid + "upstream: staging\n"
        let set = EnvironmentSet(files: [
            ManifestFile(path: "Environments/staging.yaml", data: Data(staging.utf8)),
            ManifestFile(path: "Environments/production.yaml", data: Data(production.utf8)),
            ManifestFile(path: "Environments/qa.yaml", data: Data((valid + "upstream: nowhere\n").utf8)),
        ])
        #expect(set.diagnostics.map(\.description) == [
            "Environments/production.yaml:8:11: upstream chain from production loops back to it",
            #"Environments/qa.yaml:8:11: upstream "nowhere" has no manifest Environments/nowhere.yaml"#,
            "Environments/staging.yaml:8:11: upstream chain from staging loops back to it",
        ])
        #expect(set.manifests.isEmpty)
    }

    @Test("two environments on one address: both refused, unless one does not count under Trust/, which never takes the address")
    func sharedAddress() async {
        let files = [ManifestFile(path: "Environments/production.yaml", data: Data(valid.utf8)),
                     ManifestFile(path: "Environments/x.yaml", data: Data(valid.utf8))]
        #expect(await EnvironmentSet.parsing(files).manifests.isEmpty)
        let set = await EnvironmentSet.parsing(files, untrusted: ["Environments/x.yaml"])
        #expect(set.manifests.keys.map(\.rawValue) == ["production"])
        #expect(set.diagnostics.map(\.path) == ["Environments/x.yaml"])
    }

    @Test("durations parse and print in the manifest's own units")
    func timeSpans() {
        #expect(TimeSpan(text: "1m30s")?.milliseconds == 90_000)
        #expect(TimeSpan(text: "250ms")?.milliseconds == 250)
        #expect(TimeSpan(text: "1.5s")?.milliseconds == 1_500)
        #expect(TimeSpan(text: "60") == nil)
        #expect(TimeSpan(text: "1x") == nil)
        #expect(TimeSpan(milliseconds: 3_723_000).description == "1h2m3s")
    }

    @Test("placeholders are substituted per argument, never split")
    func placeholders() {
        #expect(Placeholders.substitute("--port={port}", ["port": "8080"]) == "--port=8080")
        #expect(Placeholders.substitute("{version}", ["version": "1.0; rm -rf /"]) == "1.0; rm -rf /")
        #expect(Placeholders.names(in: "a{port}b{x y}{commit}") == ["port", "commit"])
    }

    @Test("fields flatten with defaults and secret references, never values")
    func fields() throws {
        let manifest = try ManifestParser.parse(Data(valid.utf8), path: "Environments/production.yaml")
        let fields = Dictionary(manifest.fields, uniquingKeysWith: { first, _ in first })
        #expect(fields["run.secrets.DB_PASSWORD"] == "env:WEB_DB_PASSWORD")
        #expect(fields["run.replicas"] == "3")
        #expect(fields["strategy.rolling.batchSize"] == "1")
        #expect(fields["run.command"] == #"["./bin/web", "--port", "{port}"]"#)
    }
}
