package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/virtwork/virtwork/internal/config"
	"github.com/virtwork/virtwork/internal/guestos"
	"github.com/virtwork/virtwork/internal/workload"
	"github.com/virtwork/virtwork/inventory/history"
)

type completionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"bash, zsh or fish."`
}

func (c *completionCmd) Help() string {
	return `Prints a script that completes virtwork's commands, flags and their values,
workload names (built-in and from --workload-dir, also inside --workloads lists)
and history run ids. The script asks virtwork itself for the candidates
('virtwork __complete WORDS...'), so it never goes stale.

  bash: source <(virtwork completion bash)          # e.g. in ~/.bashrc
  zsh:  source <(virtwork completion zsh)           # after compinit, in ~/.zshrc
  fish: virtwork completion fish | source           # or save it in ~/.config/fish/completions/virtwork.fish

As a kubectl plugin, kubectl completes 'kubectl virtwork ...' itself when an
executable named kubectl_complete-virtwork is on PATH: a link to the virtwork
binary under that name is enough.`
}

func (c *completionCmd) Run(e *env) error {
	_, err := fmt.Fprint(e.stdout, strings.ReplaceAll(completionScripts[c.Shell], "@PROG@", completionProg()))
	return err
}

// completionProg is the command the scripts complete and call back: the
// name virtwork was run under (so a renamed binary completes itself).
func completionProg() string {
	name := filepath.Base(os.Args[0])
	if name == "" || strings.HasSuffix(name, ".test") || strings.HasPrefix(name, "kubectl") {
		return "virtwork"
	}
	return name
}

// completeCommand is the hidden command the scripts call. Its protocol is
// cobra's (one candidate per line, "value\tdescription", then ":DIRECTIVE"),
// which is also what kubectl expects from kubectl_complete-virtwork.
const completeCommand = "__complete"

// Directive bits, as cobra defines them.
const (
	compNoSpace    = 2  // do not add a space after the candidate (comma lists)
	compNoFile     = 4  // no candidates means none, not "complete file names"
	compFilterDirs = 16 // complete directory names
)

type candidate struct{ value, help string }

// complete prints the candidates for the last of args (the word under the
// cursor, "" for a new word) after the words before it.
func complete(parser *kong.Kong, args []string, e *env) int {
	if len(args) == 0 {
		args = []string{""}
	}
	cands, directive := completions(parser.Model.Node, args[:len(args)-1], args[len(args)-1], e)
	for _, c := range cands {
		if c.help != "" {
			fmt.Fprintf(e.stdout, "%s\t%s\n", c.value, c.help)
		} else {
			fmt.Fprintln(e.stdout, c.value)
		}
	}
	fmt.Fprintf(e.stdout, ":%d\n", directive)
	return 0
}

// completions walks the words as kong would parse them: commands select
// nodes, flags take their values, the rest are positional arguments.
func completions(root *kong.Node, words []string, cur string, e *env) ([]candidate, int) {
	node, positional := root, 0
	given := map[string]string{} // flag name -> value, for --workload-dir, --config, ...
	for i := 0; i < len(words); i++ {
		w := words[i]
		if w == "--" {
			break
		}
		if strings.HasPrefix(w, "-") && len(w) > 1 {
			f, value, inline := lookupFlag(node, w)
			if f == nil || f.IsBool() {
				continue
			}
			if !inline {
				if i+1 == len(words) { // cur is this flag's value
					return flagValues(f, "", cur, given, e)
				}
				i++
				value = words[i]
			}
			given[f.Name] = value
			continue
		}
		if child := childNamed(node, w); child != nil && positional == 0 {
			node = child
			continue
		}
		positional++
	}

	if strings.HasPrefix(cur, "-") {
		if name, value, ok := strings.Cut(cur, "="); ok && strings.HasPrefix(cur, "--") {
			if f, _, _ := lookupFlag(node, name); f != nil && !f.IsBool() {
				return flagValues(f, name+"=", value, given, e)
			}
			return nil, compNoFile
		}
		var out []candidate
		for _, f := range flagsInScope(node) {
			if name := "--" + f.Name; strings.HasPrefix(name, cur) {
				out = append(out, candidate{name, firstSentence(f.Help)})
			}
		}
		return out, compNoFile
	}
	if positional == 0 && len(node.Children) > 0 {
		var out []candidate
		for _, c := range node.Children {
			if !c.Hidden && strings.HasPrefix(c.Name, cur) {
				out = append(out, candidate{c.Name, firstSentence(c.Help)})
			}
		}
		return out, compNoFile
	}
	if node.DefaultCmd != nil {
		node = node.DefaultCmd
	}
	if positional < len(node.Positional) {
		arg := node.Positional[positional]
		switch {
		case arg.Enum != "":
			return filterPrefix(enumCandidates(arg.EnumSlice()), cur), compNoFile
		case node.Name == "show" && node.Parent != nil && node.Parent.Name == "workloads":
			return filterPrefix(workloadNames(given, e), cur), compNoFile
		case node.Name == "show" && node.Parent != nil && node.Parent.Name == "history":
			return filterPrefix(historyIDs(given, e), cur), compNoFile
		case (node.Name == "compare" || node.Name == "report") && node.Parent != nil && node.Parent.Name == "history":
			relative := []candidate{{"last", "the newest apply"}, {"last~1", "the apply before it"}}
			return filterPrefix(append(relative, historyIDs(given, e)...), cur), compNoFile
		}
		return nil, 0
	}
	return nil, compNoFile
}

// lookupFlag finds the flag a word names (--name, --name=value, -n,
// -nvalue) among those in scope at node.
func lookupFlag(node *kong.Node, word string) (f *kong.Flag, value string, inline bool) {
	scope := flagsInScope(node)
	if long, ok := strings.CutPrefix(word, "--"); ok {
		name, value, inline := strings.Cut(long, "=")
		for _, f := range scope {
			if f.Name == name || slices.Contains(f.Aliases, name) {
				return f, value, inline
			}
		}
		return nil, "", false
	}
	for _, f := range scope {
		if f.Short != 0 && strings.HasPrefix(word[1:], string(f.Short)) {
			rest := word[1+len(string(f.Short)):]
			return f, rest, rest != ""
		}
	}
	return nil, "", false
}

// flagsInScope are the visible flags of node and its ancestors, and of its
// default subcommand ('virtwork history --limit 5' lists).
func flagsInScope(node *kong.Node) []*kong.Flag {
	var out []*kong.Flag
	groups := node.AllFlags(true)
	if node.DefaultCmd != nil {
		groups = append(groups, node.DefaultCmd.Flags)
	}
	for _, g := range groups {
		for _, f := range g {
			if !f.Hidden {
				out = append(out, f)
			}
		}
	}
	return out
}

func childNamed(node *kong.Node, name string) *kong.Node {
	for _, c := range node.Children {
		if c.Name == name || slices.Contains(c.Aliases, name) {
			return c
		}
	}
	return nil
}

// flagValues completes the value of f; prefix ("--flag=") is put back in
// front of each candidate.
func flagValues(f *kong.Flag, prefix, cur string, given map[string]string, e *env) ([]candidate, int) {
	var out []candidate
	directive := compNoFile
	switch {
	case f.Enum != "":
		out = filterPrefix(enumCandidates(f.EnumSlice()), cur)
	case f.Name == "workloads":
		// A comma list: complete its last element, keep the others.
		done, last := "", cur
		if i := strings.LastIndex(cur, ","); i >= 0 {
			done, last = cur[:i+1], cur[i+1:]
		}
		listed := strings.Split(done, ",")
		for _, c := range filterPrefix(workloadNames(given, e), last) {
			if !slices.Contains(listed, c.value) {
				out = append(out, candidate{done + c.value, c.help})
			}
		}
		directive |= compNoSpace // room for ",next"
	case f.Name == "context":
		out = filterPrefix(kubeContexts(given, e), cur)
	case f.Name == "guest-os":
		out = filterPrefix(enumCandidates(guestos.Names()), cur)
	case f.PlaceHolder == "DIR":
		return nil, compFilterDirs
	case f.PlaceHolder == "FILE" || f.PlaceHolder == "PATH":
		return nil, 0 // the shell completes file names
	}
	for i := range out {
		out[i].value = prefix + out[i].value
	}
	return out, directive
}

func enumCandidates(values []string) []candidate {
	var out []candidate
	for _, v := range values {
		if v != "" {
			out = append(out, candidate{value: v})
		}
	}
	return out
}

func filterPrefix(cands []candidate, prefix string) []candidate {
	var out []candidate
	for _, c := range cands {
		if strings.HasPrefix(c.value, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// workloadNames are the built-in workloads and those of --workload-dir
// (or VIRTWORK_WORKLOAD_DIR, or the config file's workloadDir).
func workloadNames(given map[string]string, e *env) []candidate {
	var flags config.Flags
	if v, ok := given["workload-dir"]; ok {
		flags.WorkloadDir = &v
	}
	if v, ok := given["config"]; ok {
		flags.Config = &v
	}
	dir := ""
	if cfg, err := config.Load(flags, e.getenv); err == nil {
		dir = cfg.WorkloadDir
	} else if flags.WorkloadDir != nil {
		dir = *flags.WorkloadDir
	}
	wls, err := workload.Load(workload.LoadOptions{Dir: dir, Input: workload.Input{Namespace: config.DefaultNamespace}})
	if err != nil && dir != "" { // a broken directory: still offer the built-ins
		wls, err = workload.Load(workload.LoadOptions{Input: workload.Input{Namespace: config.DefaultNamespace}})
	}
	if err != nil {
		return nil
	}
	var out []candidate
	for _, w := range wls {
		out = append(out, candidate{w.Name, w.Description})
	}
	return out
}

// historyIDs are the recorded runs, newest first, described as the
// history list shows them. Completing never creates the database.
func historyIDs(given map[string]string, e *env) []candidate {
	var flag *string
	if v, ok := given["history-db"]; ok {
		flag = &v
	}
	path, err := history.ResolvePath(flag, e.getenv)
	if err != nil {
		return nil
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	db, err := history.Open(path)
	if err != nil {
		return nil
	}
	runs, err := db.List(history.Filter{Limit: 200})
	if err != nil {
		return nil
	}
	var out []candidate
	for _, r := range runs {
		out = append(out, candidate{r.ID, fmt.Sprintf("%s %s/%s %s, %s", commandOf(r), r.Namespace, r.Name,
			outcomeOf(r), r.Start.Local().Format(time.DateTime))})
	}
	return out
}

// kubeContexts are the contexts of the kubeconfig --kubeconfig or
// $KUBECONFIG names (read locally; the cluster is not asked).
func kubeContexts(given map[string]string, e *env) []candidate {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = given["kubeconfig"]
	raw, err := rules.Load()
	if err != nil {
		return nil
	}
	var out []candidate
	for name, c := range raw.Contexts {
		out = append(out, candidate{name, "cluster " + c.Cluster})
	}
	slices.SortFunc(out, func(a, b candidate) int { return strings.Compare(a.value, b.value) })
	return out
}

// firstSentence shortens a help text to what fits next to a candidate.
func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSuffix(s, ".")
}

var completionScripts = map[string]string{
	"bash": `# bash completion for @PROG@: source <(@PROG@ completion bash)
_@PROG@() {
    local -a args=() lines=() cands=()
    local i w joined=0 line directive strip=""
    # Give @PROG@ the words as typed: bash splits --flag=value at '='.
    for (( i = 1; i <= COMP_CWORD; i++ )); do
        w=${COMP_WORDS[i]}
        if [[ $w == "=" && ${#args[@]} -gt 0 && ${args[-1]} == --* ]]; then
            args[-1]+="="; joined=1; continue
        fi
        if (( joined )); then args[-1]+=$w; joined=0; continue; fi
        args+=("$w")
    done
    local cur=${args[-1]}
    if [[ $cur == --*=* ]]; then strip=${cur%%=*}=; cur=${cur#*=}; fi
    mapfile -t lines < <(@PROG@ __complete "${args[@]}" 2>/dev/null)
    (( ${#lines[@]} )) || return 0
    directive=${lines[-1]#:}
    unset 'lines[-1]'
    if (( directive & 16 )); then
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -d -- "$cur")
        return 0
    fi
    for line in "${lines[@]}"; do
        line=${line%%$'\t'*}
        cands+=("${line#"$strip"}")
    done
    if (( ${#cands[@]} == 0 && !(directive & 4) )); then
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        return 0
    fi
    (( directive & 2 )) && compopt -o nospace 2>/dev/null
    COMPREPLY=("${cands[@]}")
}
complete -F _@PROG@ @PROG@
`,
	"zsh": `#compdef @PROG@
# zsh completion for @PROG@: source <(@PROG@ completion zsh) after compinit
_@PROG@() {
    local -a lines vals disp
    local line out directive
    out=$(@PROG@ __complete "${(@)words[2,CURRENT]}" 2>/dev/null) || return 1
    lines=("${(@f)out}")
    directive=${lines[-1]#:}
    lines=("${(@)lines[1,-2]}")
    if (( directive & 16 )); then
        _files -/
        return
    fi
    if (( ${#lines} == 0 )); then
        (( directive & 4 )) || _files
        return
    fi
    for line in "${lines[@]}"; do
        vals+=("${line%%$'\t'*}")
        if [[ $line == *$'\t'* ]]; then
            disp+=("${line%%$'\t'*} -- ${line#*$'\t'}")
        else
            disp+=("$line")
        fi
    done
    if (( directive & 2 )); then
        compadd -l -S '' -d disp -a vals
    else
        compadd -l -d disp -a vals
    fi
}
if (( $+functions[compdef] )); then
    compdef _@PROG@ @PROG@
fi
`,
	"fish": `# fish completion for @PROG@: @PROG@ completion fish | source
function __@PROG@_complete
    set -l args (commandline -opc)[2..-1] (commandline -ct)
    set -l lines (@PROG@ __complete $args 2>/dev/null)
    or return
    set -l directive (string replace -r '^:' '' -- $lines[-1])
    set -e lines[-1]
    if test (math "bitand($directive, 16)") -ne 0
        __fish_complete_directories (commandline -ct)
        return
    end
    if test (count $lines) -eq 0; and test (math "bitand($directive, 4)") -eq 0
        __fish_complete_path (commandline -ct)
        return
    end
    printf '%s\n' $lines
    # fish adds a space after a lone candidate; a second one that goes on
    # (the comma of a list) makes it stop at their common prefix instead.
    if test (math "bitand($directive, 2)") -ne 0; and test (count $lines) -eq 1
        printf '%s,\n' (string split -m1 \t -- $lines[1])[1]
    end
end
complete -c @PROG@ -f -a '(__@PROG@_complete)'
`,
}
