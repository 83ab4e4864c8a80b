// One argument binder: matches a command call's arguments to its parameters, for the static check
// that runs before a cell (Interpreter.analyze: every problem) and for the run (Evaluator.invoke:
// the first problem) alike. It does not evaluate; types and integers are checked on the values.
import Foundation

struct ArgumentBinder {
    /// An argument and the parameter it binds to.
    struct Binding {
        let parameter: ParameterSpec
        let argument: CommandArgument
        /// A positional argument collected into the variadic parameter's list.
        let variadic: Bool
    }

    /// Binds `call` to `spec`: named arguments by name, positional ones in order (the variadic
    /// parameter takes every remaining one). Problems, in argument order: an unknown parameter, one
    /// given twice, too many arguments, then each required parameter left out.
    static func bind(_ call: CommandCall, to spec: CommandSpec) -> (bindings: [Binding], problems: [Diagnostic]) {
        var bindings: [Binding] = [], problems: [Diagnostic] = []
        let positional = spec.parameters.filter(\.positional)
        var next = 0
        var given = Set<String>()
        for arg in call.arguments {
            if let name = arg.name {
                guard let p = spec.parameters.first(where: { $0.name == name }) else {
                    let names = spec.parameters.map(\.name)
                    problems.append(Diagnostic("unknown parameter '\(name)' for '\(spec.name)'", at: arg.nameLocation,
                                               hint: Suggestions.didYouMean(name, among: names) ?? "'\(spec.name)' takes: \(names.joined(separator: ", "))"))
                    continue
                }
                guard !given.contains(name) else {
                    problems.append(Diagnostic("parameter '\(name)' is given twice", at: arg.nameLocation))
                    continue
                }
                given.insert(name)
                bindings.append(Binding(parameter: p, argument: arg, variadic: false))
            } else {
                guard next < positional.count else {
                    problems.append(Diagnostic("too many arguments for '\(spec.name)'", at: arg.value.location, hint: "usage: \(spec.usage)"))
                    continue
                }
                let p = positional[next]
                let isVariadic = p.name == spec.variadic
                if !isVariadic { next += 1 }
                given.insert(p.name)
                bindings.append(Binding(parameter: p, argument: arg, variadic: isVariadic))
            }
        }
        for p in spec.parameters where p.required && !given.contains(p.name) {
            problems.append(Diagnostic("'\(spec.name)' needs \(p.positional ? "its \(p.name) argument" : "\(p.name)=…")", at: call.location, hint: "usage: \(spec.usage)"))
        }
        return (bindings, problems)
    }
}
