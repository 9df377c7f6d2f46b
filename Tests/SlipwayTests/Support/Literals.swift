import SlipwayCore

// Test-only: identities written as literals in tests. A literal that is not valid stops the
// test at once; production code never builds an identity from unchecked text.
extension EnvironmentName: ExpressibleByStringLiteral {
    init(stringLiteral value: String) {
        guard let name = EnvironmentName(value) else { preconditionFailure("not an environment name: \(value)") }
        self = name
    }
}

extension ObjectID: ExpressibleByStringLiteral {
    init(stringLiteral value: String) {
        guard let id = ObjectID(hex: value) else { preconditionFailure("not an object id: \(value)") }
        self = id
    }
}

extension DeploymentID: ExpressibleByStringLiteral {
    init(stringLiteral value: String) {
        guard let id = DeploymentID(value) else { preconditionFailure("not a deployment id: \(value)") }
        self = id
    }
}
