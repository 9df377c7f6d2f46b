public import SlipwayCore

/// One place a manifest's events are sent (`notify:`, README "Notifications"). Addresses and
/// keys are `env:` references resolved at delivery: a webhook URL usually carries a token.
public struct NotifyChannel: Sendable, Hashable, Codable {
    public enum Kind: Sendable, Hashable, Codable {
        /// A JSON event POSTed; with `secret`, signed as Flux's `generic-hmac` receivers expect
        /// (`X-Signature: sha256=<HMAC-SHA256 of the body>`).
        case webhook(url: SecretReference, secret: SecretReference?)
        /// `{"text": …}` POSTed: Slack incoming webhooks, Mattermost, Rocket.Chat.
        case slack(url: SecretReference)
        /// argv, with the JSON event on stdin.
        case command([String])
    }

    /// How records and logs name the channel (never by its URL).
    public var name: String
    public var kind: Kind
    /// The events sent here; all when the manifest names none.
    public var events: Set<EventKind>

    public init(name: String, kind: Kind, events: Set<EventKind> = Set(EventKind.allCases)) {
        self.name = name
        self.kind = kind
        self.events = events
    }
}

extension ManifestDecoder {
    /// `notify: [ { webhook: env:URL, secret: env:KEY, events: [...] }, { slack: env:URL }, { command: [...] } ]`.
    func notify(_ top: Fields) -> [NotifyChannel] {
        list(top, "notify").enumerated().compactMap { index, node in
            let location = "notify[\(index)]"
            guard let fields = reader.fields(node, at: location, allowed: ["name", "webhook", "secret", "slack", "command", "events"]) else { return nil }
            let kinds = ["webhook", "slack", "command"].filter { fields[$0] != nil }
            guard kinds.count == 1, let chosen = kinds.first else {
                reader.report(fields.node, "\(location) needs exactly one of webhook, slack or command")
                return nil
            }
            if fields["secret"] != nil, chosen != "webhook" { reader.report(fields["secret"], "\(location).secret signs webhook bodies only") }
            let kind: NotifyChannel.Kind
            switch chosen {
            case "webhook":
                guard let url = reference(fields, "webhook") else { return nil }
                kind = .webhook(url: url, secret: fields["secret"] == nil ? nil : reference(fields, "secret"))
            case "slack":
                guard let url = reference(fields, "slack") else { return nil }
                kind = .slack(url: url)
            default:
                guard let command = reader.stringList(fields, "command"), !(command.first ?? "").isEmpty else {
                    reader.report(fields["command"], "\(location).command must name a program")
                    return nil
                }
                checkPlaceholders(fields, "command", also: ["event"])
                kind = .command(command)
            }
            var events = Set(EventKind.allCases)
            if let names = reader.stringList(fields, "events") {
                events = []
                for (position, name) in names.enumerated() {
                    guard let event = EventKind(rawValue: name) else {
                        let known = EventKind.allCases.map(\.rawValue)
                        reader.report(fields["events"]?.sequence?[position], "\(location).events: unknown event \"\(name.clipped)\"\(Spelling.hint(for: name, among: known)) (known: \(known.joined(separator: ", ")))")
                        continue
                    }
                    events.insert(event)
                }
            }
            let name = reader.string(fields, "name", rule: "letters, digits, '-', '_' and '.'", isValid: Rules.isName) ?? "\(chosen)-\(index + 1)"
            return NotifyChannel(name: name, kind: kind, events: events)
        }
    }

    /// An `env:NAME` reference; anything else is refused without echoing it (it may be the URL or key itself).
    private func reference(_ fields: Fields, _ key: String) -> SecretReference? {
        guard let text = reader.string(fields, key) else { return nil }
        guard text.hasPrefix("env:"), Rules.isVariable(String(text.dropFirst(4))) else {
            reader.report(fields[key], "\(fields.keyPath(key)) must be a reference such as env:VARIABLE_NAME: URLs and keys are secrets, never written in the manifest")
            return nil
        }
        return SecretReference(variable: String(text.dropFirst(4)))
    }
}
