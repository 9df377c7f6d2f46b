import Foundation
import Testing
@testable import SlipwayManifest
@testable import SlipwayRecords

/// The bounded door to YAML: what it refuses before the parser runs, and what it must let through.
@Suite("Bounded YAML")
struct BoundedYAMLTests {
    /// The 421-byte manifest that kept Yams busy for over a minute: aliases as mapping keys.
    static let keyBomb = Fixtures.text("key-bomb.yaml")

    @Test("anchors, aliases, tags, a second document and deep nesting are refused where they are")
    func refusals() {
        #expect(BoundedYAML.check(Self.keyBomb) == .init(line: 3, column: 4, message: "anchors and aliases (& and *) are not accepted here; write the value out"))
        #expect(BoundedYAML.check("a: [1, *x]")?.column == 8)
        #expect(BoundedYAML.check("- *x")?.line == 1)
        #expect(BoundedYAML.check("? &k key\n: v")?.line == 1)
        #expect(BoundedYAML.check("a: !!str 1")?.message == "tags (!) are not accepted here")
        #expect(BoundedYAML.check("a: 1\n---\nb: 2")?.message == "a second document (---): only one is read")
        #expect(BoundedYAML.check(String(repeating: "[", count: 65) + String(repeating: "]", count: 65))?.message.contains("64 levels") == true)
        #expect(BoundedYAML.check(String(repeating: " ", count: 257) + "a: 1")?.message.contains("256") == true)
        #expect(BoundedYAML.check("a: \"never ends\nb: *x") == nil, "inside the quote: the parser reports the quote")
        #expect(BoundedYAML.check(String(repeating: "a", count: 256 * 1024 + 1)) != nil)
    }

    @Test("what manifests and front matter do write passes: indicators inside strings, comments, block scalars, URLs")
    func passes() throws {
        let text = """
            ---
            # a comment with *stars and &amps
            command: ["sh", "-c", "a && b * c", '!not a tag', "#not a comment", 'it''s *fine*']
            plain: a*b&c!d and it's fine  # trailing *comment
            url: http://127.0.0.1:8080/a?b=*&c=!
            flow: {a: 1, b: [2, -3, "x, *y"], c: "multi
              line *still* inside"}
            negative: -1
            block: |
              *not an alias
              &not an anchor
              - !not a tag
            after: [x]
            steps: [signature: 0, "batch 1/3: 2": {ms: 1, detail: "a: *b"}]
            """
        #expect(BoundedYAML.check(text) == nil, "\(BoundedYAML.check(text)?.description ?? "")")
        let node = try #require(try BoundedYAML.compose(text))
        #expect(node["block"]?.string == "*not an alias\n&not an anchor\n- !not a tag\n")
        #expect(node["after"]?.sequence?.count == 1)
    }

    @Test("the key bomb is refused as a manifest error at its line and column, at once")
    func manifestKeyBomb() {
        do {
            _ = try ManifestParser.parse(Data(Self.keyBomb.utf8), path: "Environments/production.yaml")
            Issue.record("the key bomb parsed")
        } catch {
            #expect(error.diagnostics.map(\.description) == ["Environments/production.yaml:3:4: anchors and aliases (& and *) are not accepted here; write the value out"])
        }
    }

    @Test("fuzzing findings: a quoted scalar that ends the input with a backslash is the parser's to report, not a crash")
    func findings() throws {
        for text in [#""\"#, #"a: "x\"#, #"a: ["b", "c\"] # "\"#] {
            #expect(BoundedYAML.check(text) == nil, "\(text)")
            #expect(throws: ManifestErrors.self) { try ManifestParser.parse(Data(text.utf8), path: "Environments/x.yaml") }
        }
        // The input libFuzzer found (Benchmarks/Fuzz/findings/crash-a2405c58…), as a manifest.
        let found = try #require(Data(base64Encoded: Self.crashA2405c58))
        #expect(throws: ManifestErrors.self) { try ManifestParser.parse(found.dropFirst(), path: "Environments/x.yaml") }
    }

    static let crashA2405c58 = [
        "AAAjIERlc2lyZWQgc3RhdGUgb2YgdGhlIHBoYW5nZSBoZXJvY2VzcyB9CnQjIERkc2lyYWZmaWM6IHsgbGlzdGVuOiAiMTI3LjAu",
        "MC4xdGg6IC9oZWFsdGh6LCBleHBlY3Q6IDIwMSB9CiAgaW50ZXJ2YW5ucmVkIHN0YXRlIG9mIHRoZSBwaGFuZ2UgaGVyb2Nlc3Mg",
        "fQp0cmFmZmljOiB7IGxpc3RlbjogIjEyNy4wLjAuMXRoOiAvaGVhbHRoeiwgZXhwZWN0OiAyMDEgfQogIGludGVydmFubm5ubm5u",
        "bm5ubm5ubm5ubm5ubm5ubm5ubm5ubm5ubm5ubm5ubm5ubm5ubm5ubm5ubm5ubm5ubm5ubm5ubm5ubm5ubm5ubm5ubm5ubm5ubmwy",
        "Ny4wLjAuMToxODA4MCIgfQpoZWFsdGg6CiAgaHlUaHJlc2hvbGQ6IDIKICBzdGFydFRpbWVvdXQ6IDYwcwpzdHJhdGVneToKICBy",
        "b2xsaW5nOiB7IGJhdGNoU2l6bm5ubm5ubm5ubm5ubm5ubm5ubm5ubm5ubm5ubm5ubm5ubm5ubm5ubnJuZyBmaXJzdApyIGNkOiBb",
        "InNzZWNubm5ubm5ubm5ubm5ubm5ubGk6bGlwd2F5XFxcXG5uXFxcbm5ubm5ubm5ubm5ubm5ublw=",
    ].joined()

    @Test("status front matter goes through the same door")
    func statusKeyBomb() {
        let status = "---\nenvironment: production\nservice: web\nlastResult: succeeded\nlastDeployment: x\n" + Self.keyBomb.split(separator: "\n").dropFirst(2).joined(separator: "\n") + "\n---\n"
        #expect(throws: BoundedYAML.Refusal.self) { try FrontMatter.parseStatus(status) }
    }
}
