import Foundation

/// `{name}` placeholders in argv arguments. Substitution is per argument and purely textual:
/// a value never becomes a second argument and never meets a shell.
public enum Placeholders {
    /// Every placeholder a manifest may use.
    public static let known = ["port", "commit", "version", "url", "env", "service", "instance", "backup"]

    /// The placeholder names used in `argument`.
    public static func names(in argument: String) -> [String] {
        var names: [String] = []
        var rest = Substring(argument)
        while let open = rest.firstIndex(of: "{") {
            let after = rest[rest.index(after: open)...]
            guard let close = after.firstIndex(of: "}") else { break }
            let name = after[..<close]
            if !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
                names.append(String(name))
            }
            rest = after[after.index(after: close)...]
        }
        return names
    }

    /// Replaces each known `{name}` present in `values`; everything else is left as written.
    public static func substitute(_ argument: String, _ values: [String: String]) -> String {
        var result = argument
        for (name, value) in values {
            result = result.replacingOccurrences(of: "{\(name)}", with: value)
        }
        return result
    }
}
