// All commands by name. `standard` holds the built-in set; help, completion and docs come from it.
import Foundation

public struct CommandRegistry: Sendable {
    public private(set) var commands: [String: CommandSpec] = [:]
    public private(set) var order: [String] = []

    public init(_ specs: [CommandSpec] = []) { for s in specs { register(s) } }

    public mutating func register(_ spec: CommandSpec) {
        if commands[spec.name] == nil { order.append(spec.name) }
        commands[spec.name] = spec
    }

    public var names: Set<String> { Set(order) }
    public subscript(_ name: String) -> CommandSpec? { commands[name] }

    public static let standard = CommandRegistry(
        SessionCommands.all + TrainingCommands.all + TableCommands.all + OutputCommands.all)
}
