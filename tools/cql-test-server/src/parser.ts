// Recursive-descent parser for the CQL subset a trace store needs. Anything else is a SYNTAX_ERROR that
// names what was not understood, so a store that drifts beyond the subset fails loudly in tests.
import type {
  Assignment,
  Batch,
  BatchType,
  ColumnDef,
  CreateKeyspace,
  CreateTable,
  Delete,
  Insert,
  Modification,
  OptionValue,
  Parsed,
  QName,
  Relation,
  RelationOp,
  Select,
  Selector,
  Statement,
  Term,
  Update,
  AlterTable,
} from './ast.js';
import { type Token, position, tokenize } from './lexer.js';
import { syntaxError } from './protocol.js';
import { type CqlType, scalarByName } from './types.js';

class Parser {
  private i = 0;
  private markers = 0;

  constructor(
    private readonly src: string,
    private readonly toks: readonly Token[],
  ) {}

  // ---- token helpers ----

  private peek(ahead = 0): Token {
    return this.toks[Math.min(this.i + ahead, this.toks.length - 1)]!;
  }

  private next(): Token {
    const t = this.peek();
    if (this.i < this.toks.length - 1) this.i++;
    return t;
  }

  private fail(message: string, tok: Token = this.peek()): never {
    const shown = tok.k === 'eof' ? '<EOF>' : this.src.slice(tok.pos, tok.pos + 20).split(/\s/)[0];
    throw syntaxError(`${position(this.src, tok.pos)} ${message} at input '${shown}'`);
  }

  private isKw(word: string, ahead = 0): boolean {
    const t = this.peek(ahead);
    return t.k === 'ident' && !t.quoted && t.v === word;
  }

  private acceptKw(word: string): boolean {
    if (!this.isKw(word)) return false;
    this.i++;
    return true;
  }

  private expectKw(word: string): void {
    if (!this.acceptKw(word)) this.fail(`mismatched input, expecting ${word.toUpperCase()}`);
  }

  private isSym(s: string, ahead = 0): boolean {
    const t = this.peek(ahead);
    return t.k === 'sym' && t.v === s;
  }

  private acceptSym(s: string): boolean {
    if (!this.isSym(s)) return false;
    this.i++;
    return true;
  }

  private expectSym(s: string): void {
    if (!this.acceptSym(s)) this.fail(`mismatched input, expecting '${s}'`);
  }

  private ident(what = 'identifier'): string {
    const t = this.peek();
    if (t.k !== 'ident') this.fail(`no viable alternative, expecting ${what}`);
    this.i++;
    return t.v;
  }

  private qname(): QName {
    const first = this.ident('table name');
    if (this.acceptSym('.')) return { ks: first, name: this.ident('table name') };
    return { ks: null, name: first };
  }

  private unsupported(what: string): never {
    this.fail(`${what} is not supported by the CQL test server`);
  }

  // ---- statements ----

  parse(): Parsed {
    const statement = this.statement();
    this.acceptSym(';');
    if (this.peek().k !== 'eof') this.fail('extraneous input');
    return { statement, markers: this.markers };
  }

  private statement(): Statement {
    const t = this.peek();
    if (t.k !== 'ident' || t.quoted) this.fail('no viable alternative at statement start');
    switch (t.v) {
      case 'select':
        return this.select();
      case 'insert':
        return this.insert();
      case 'update':
        return this.update();
      case 'delete':
        return this.delete();
      case 'begin':
        return this.batch();
      case 'create':
        return this.create();
      case 'drop':
        return this.drop();
      case 'alter':
        return this.alter();
      case 'truncate':
        this.next();
        this.acceptKw('table');
        return { kind: 'truncate', table: this.qname() };
      case 'use':
        this.next();
        return { kind: 'use', name: this.ident('keyspace name') };
      default:
        return this.unsupported(`statement ${t.v.toUpperCase()}`);
    }
  }

  private select(): Select {
    this.expectKw('select');
    if (this.isKw('json') || this.isKw('distinct')) this.unsupported(`SELECT ${this.peek().v.toUpperCase()}`);
    let selectors: Selector[] | null = null;
    if (!this.acceptSym('*')) {
      selectors = [this.selector()];
      while (this.acceptSym(',')) selectors.push(this.selector());
    }
    this.expectKw('from');
    const table = this.qname();
    const where = this.acceptKw('where') ? this.relations() : [];
    const orderBy: Array<{ col: string; desc: boolean }> = [];
    if (this.acceptKw('order')) {
      this.expectKw('by');
      do {
        const col = this.ident('column name');
        let desc = false;
        if (this.acceptKw('desc')) desc = true;
        else this.acceptKw('asc');
        orderBy.push({ col, desc });
      } while (this.acceptSym(','));
    }
    if (this.isKw('per')) this.unsupported('PER PARTITION LIMIT');
    const limit = this.acceptKw('limit') ? this.term() : null;
    let allowFiltering = false;
    if (this.acceptKw('allow')) {
      this.expectKw('filtering');
      allowFiltering = true;
    }
    return { kind: 'select', table, selectors, where, orderBy, limit, allowFiltering };
  }

  private selector(): Selector {
    const name = this.ident('selector');
    let sel: Selector;
    if (this.acceptSym('(')) {
      if (name === 'count') {
        if (!this.acceptSym('*')) {
          const t = this.next();
          if (!(t.k === 'integer' && t.v === '1')) this.fail('expecting * or 1 in COUNT', t);
        }
        this.expectSym(')');
        sel = { k: 'count', alias: null };
      } else if (name === 'ttl' || name === 'writetime') {
        const col = this.ident('column name');
        this.expectSym(')');
        sel = { k: name, col, alias: null };
      } else {
        return this.unsupported(`function ${name}() in a selection`);
      }
    } else {
      sel = { k: 'col', col: name, alias: null };
    }
    if (this.acceptKw('as')) return { ...sel, alias: this.ident('alias') };
    return sel;
  }

  private relations(): Relation[] {
    const out = [this.relation()];
    while (this.acceptKw('and')) out.push(this.relation());
    return out;
  }

  private relation(): Relation {
    if (this.isSym('(')) this.unsupported('multi-column relation');
    if (this.isKw('token') && this.isSym('(', 1)) this.unsupported('token() relation');
    const col = this.ident('column name');
    if (this.acceptKw('in')) {
      if (this.isSym('?') || this.isSym(':')) return { col, op: 'in', terms: [this.term()], inMarker: true };
      this.expectSym('(');
      const terms: Term[] = [];
      if (!this.isSym(')')) {
        terms.push(this.term());
        while (this.acceptSym(',')) terms.push(this.term());
      }
      this.expectSym(')');
      return { col, op: 'in', terms, inMarker: false };
    }
    if (this.isKw('contains') || this.isKw('like')) this.unsupported(this.peek().v.toUpperCase());
    const t = this.next();
    if (t.k !== 'sym' || !['=', '<', '>', '<=', '>='].includes(t.v)) this.fail('expecting a comparison operator', t);
    return { col, op: t.v as RelationOp, terms: [this.term()], inMarker: false };
  }

  private usingClause(): { ttl: Term | null; timestamp: Term | null } {
    let ttl: Term | null = null;
    let timestamp: Term | null = null;
    if (this.acceptKw('using')) {
      do {
        if (this.acceptKw('ttl')) ttl = this.term();
        else if (this.acceptKw('timestamp')) timestamp = this.term();
        else this.fail('expecting TTL or TIMESTAMP');
      } while (this.acceptKw('and'));
    }
    return { ttl, timestamp };
  }

  private insert(): Insert {
    this.expectKw('insert');
    this.expectKw('into');
    const table = this.qname();
    if (this.isKw('json')) this.unsupported('INSERT JSON');
    this.expectSym('(');
    const columns = [this.ident('column name')];
    while (this.acceptSym(',')) columns.push(this.ident('column name'));
    this.expectSym(')');
    this.expectKw('values');
    this.expectSym('(');
    const values = [this.term()];
    while (this.acceptSym(',')) values.push(this.term());
    this.expectSym(')');
    if (columns.length !== values.length) {
      throw syntaxError(`Unmatched column names/values (${columns.length} columns, ${values.length} values)`);
    }
    let ifNotExists = false;
    if (this.acceptKw('if')) {
      this.expectKw('not');
      this.expectKw('exists');
      ifNotExists = true;
    }
    const { ttl, timestamp } = this.usingClause();
    return { kind: 'insert', table, columns, values, ifNotExists, ttl, timestamp };
  }

  private update(): Update {
    this.expectKw('update');
    const table = this.qname();
    const { ttl, timestamp } = this.usingClause();
    this.expectKw('set');
    const assignments = [this.assignment()];
    while (this.acceptSym(',')) assignments.push(this.assignment());
    this.expectKw('where');
    const where = this.relations();
    if (this.isKw('if')) this.unsupported('conditional UPDATE (IF)');
    return { kind: 'update', table, assignments, where, ttl, timestamp };
  }

  private assignment(): Assignment {
    const col = this.ident('column name');
    if (this.acceptSym('[')) {
      const key = this.term();
      this.expectSym(']');
      this.expectSym('=');
      return { op: 'setKey', col, key, term: this.term() };
    }
    this.expectSym('=');
    // `c = c + x` / `c = c - x` / `c = x + c`
    const t = this.peek();
    if (t.k === 'ident' && t.v === col && (this.isSym('+', 1) || this.isSym('-', 1))) {
      this.next();
      const op = this.next().v === '+' ? 'add' : 'sub';
      return { op, col, term: this.term() };
    }
    const term = this.term();
    if (this.acceptSym('+')) {
      const again = this.ident('column name');
      if (again !== col) this.fail(`only expressions of the form X = <value> + X are supported`);
      return { op: 'prepend', col, term };
    }
    return { op: 'set', col, term };
  }

  private delete(): Delete {
    this.expectKw('delete');
    const columns: string[] = [];
    if (!this.isKw('from')) {
      columns.push(this.ident('column name'));
      if (this.isSym('[')) this.unsupported('deleting a collection element');
      while (this.acceptSym(',')) columns.push(this.ident('column name'));
    }
    this.expectKw('from');
    const table = this.qname();
    const { ttl, timestamp } = this.usingClause();
    if (ttl !== null) throw syntaxError('line 1:0 DELETE does not support USING TTL');
    this.expectKw('where');
    const where = this.relations();
    if (this.isKw('if')) this.unsupported('conditional DELETE (IF)');
    return { kind: 'delete', table, columns, where, timestamp };
  }

  private batch(): Batch {
    this.expectKw('begin');
    let type: BatchType = 'logged';
    if (this.acceptKw('unlogged')) type = 'unlogged';
    else if (this.acceptKw('counter')) type = 'counter';
    this.expectKw('batch');
    if (this.isKw('using')) this.unsupported('BATCH USING');
    const statements: Modification[] = [];
    while (!this.isKw('apply')) {
      const s = this.statement();
      if (s.kind !== 'insert' && s.kind !== 'update' && s.kind !== 'delete') {
        throw syntaxError('Only INSERT, UPDATE and DELETE statements are allowed in a BATCH');
      }
      statements.push(s);
      this.acceptSym(';');
    }
    this.expectKw('apply');
    this.expectKw('batch');
    return { kind: 'batch', type, statements };
  }

  private ifNotExists(): boolean {
    if (!this.acceptKw('if')) return false;
    this.expectKw('not');
    this.expectKw('exists');
    return true;
  }

  private ifExists(): boolean {
    if (!this.acceptKw('if')) return false;
    this.expectKw('exists');
    return true;
  }

  private create(): CreateKeyspace | CreateTable {
    this.expectKw('create');
    if (this.acceptKw('keyspace') || this.acceptKw('schema')) {
      const ifNotExists = this.ifNotExists();
      const name = this.ident('keyspace name');
      this.expectKw('with');
      const options = new Map<string, OptionValue>();
      do this.option(options);
      while (this.acceptKw('and'));
      return { kind: 'createKeyspace', name, ifNotExists, options };
    }
    if (this.acceptKw('table') || this.acceptKw('columnfamily')) return this.createTable();
    return this.unsupported(`CREATE ${this.peek().v.toUpperCase()}`);
  }

  private alter(): AlterTable {
    this.expectKw('alter');
    if (!this.acceptKw('table') && !this.acceptKw('columnfamily')) return this.unsupported(`ALTER ${this.peek().v.toUpperCase()}`);
    const table = this.qname();
    if (!this.isKw('with')) return this.unsupported('ALTER TABLE other than WITH options');
    this.expectKw('with');
    const options = new Map<string, OptionValue>();
    do this.option(options);
    while (this.acceptKw('and'));
    return { kind: 'alterTable', table, options };
  }

  private createTable(): CreateTable {
    const ifNotExists = this.ifNotExists();
    const table = this.qname();
    this.expectSym('(');
    const columns: ColumnDef[] = [];
    let partitionKey: string[] = [];
    let clustering: string[] = [];
    do {
      if (this.isKw('primary') && this.isKw('key', 1)) {
        this.next();
        this.next();
        this.expectSym('(');
        if (this.acceptSym('(')) {
          partitionKey = [this.ident('column name')];
          while (this.acceptSym(',')) partitionKey.push(this.ident('column name'));
          this.expectSym(')');
        } else {
          partitionKey = [this.ident('column name')];
        }
        clustering = [];
        while (this.acceptSym(',')) clustering.push(this.ident('column name'));
        this.expectSym(')');
        continue;
      }
      const name = this.ident('column name');
      const type = this.type();
      if (this.isKw('static')) this.unsupported('STATIC columns');
      if (this.acceptKw('primary')) {
        this.expectKw('key');
        partitionKey = [name];
      }
      columns.push({ name, type });
    } while (this.acceptSym(','));
    this.expectSym(')');
    const options = new Map<string, OptionValue>();
    const clusteringOrder = new Map<string, boolean>();
    if (this.acceptKw('with')) {
      do {
        if (this.acceptKw('clustering')) {
          this.expectKw('order');
          this.expectKw('by');
          this.expectSym('(');
          do {
            const col = this.ident('column name');
            if (this.acceptKw('desc')) clusteringOrder.set(col, true);
            else {
              this.expectKw('asc');
              clusteringOrder.set(col, false);
            }
          } while (this.acceptSym(','));
          this.expectSym(')');
        } else if (this.isKw('compact')) {
          this.unsupported('COMPACT STORAGE');
        } else {
          this.option(options);
        }
      } while (this.acceptKw('and'));
    }
    return { kind: 'createTable', table, ifNotExists, columns, partitionKey, clustering, clusteringOrder, options };
  }

  private type(): CqlType {
    const name = this.ident('type');
    if (name === 'frozen') {
      this.expectSym('<');
      const inner = this.type();
      this.expectSym('>');
      if (inner.kind === 'list' || inner.kind === 'set' || inner.kind === 'map') return { ...inner, frozen: true };
      return inner;
    }
    if (name === 'list' || name === 'set') {
      this.expectSym('<');
      const elem = this.type();
      this.expectSym('>');
      return { kind: name, elem, frozen: false };
    }
    if (name === 'map') {
      this.expectSym('<');
      const key = this.type();
      this.expectSym(',');
      const value = this.type();
      this.expectSym('>');
      return { kind: 'map', key, value, frozen: false };
    }
    return scalarByName(name) ?? this.unsupported(`type ${name}`);
  }

  private option(into: Map<string, OptionValue>): void {
    const name = this.ident('property name');
    this.expectSym('=');
    if (this.acceptSym('{')) {
      const map = new Map<string, string>();
      if (!this.isSym('}')) {
        do {
          const k = this.next();
          if (k.k !== 'string') this.fail('expecting a string key', k);
          this.expectSym(':');
          map.set(k.v, this.simpleOptionValue());
        } while (this.acceptSym(','));
      }
      this.expectSym('}');
      into.set(name, map);
      return;
    }
    into.set(name, this.simpleOptionValue());
  }

  private simpleOptionValue(): string {
    const t = this.next();
    if (t.k === 'string' || t.k === 'integer' || t.k === 'float') return t.v;
    if (t.k === 'ident' && (t.v === 'true' || t.v === 'false')) return t.v;
    if (t.k === 'sym' && t.v === '-') {
      const n = this.next();
      if (n.k === 'integer' || n.k === 'float') return `-${n.v}`;
    }
    return this.fail('expecting a property value', t);
  }

  private drop(): Statement {
    this.expectKw('drop');
    if (this.acceptKw('keyspace') || this.acceptKw('schema')) {
      const ifExists = this.ifExists();
      return { kind: 'dropKeyspace', name: this.ident('keyspace name'), ifExists };
    }
    if (this.acceptKw('table') || this.acceptKw('columnfamily')) {
      const ifExists = this.ifExists();
      return { kind: 'dropTable', table: this.qname(), ifExists };
    }
    return this.unsupported(`DROP ${this.peek().v.toUpperCase()}`);
  }

  // ---- terms ----

  private term(): Term {
    const t = this.next();
    switch (t.k) {
      case 'string':
        return { k: 'lit', lit: { t: 'string', v: t.v } };
      case 'integer':
        return { k: 'lit', lit: { t: 'integer', v: t.v } };
      case 'float':
        return { k: 'lit', lit: { t: 'float', v: t.v } };
      case 'uuid':
        return { k: 'lit', lit: { t: 'uuid', v: t.v } };
      case 'hex':
        return { k: 'lit', lit: { t: 'hex', v: Buffer.from(t.v, 'hex') } };
      case 'ident': {
        if (!t.quoted && (t.v === 'true' || t.v === 'false')) return { k: 'lit', lit: { t: 'boolean', v: t.v === 'true' } };
        if (!t.quoted && t.v === 'null') return { k: 'lit', lit: { t: 'null' } };
        if (!t.quoted && (t.v === 'nan' || t.v === 'infinity')) return { k: 'lit', lit: { t: 'float', v: t.v === 'nan' ? 'NaN' : 'Infinity' } };
        if (this.acceptSym('(')) {
          const args: Term[] = [];
          if (!this.isSym(')')) {
            args.push(this.term());
            while (this.acceptSym(',')) args.push(this.term());
          }
          this.expectSym(')');
          return { k: 'fn', name: t.v, args };
        }
        return this.fail('no viable alternative, expecting a value', t);
      }
      case 'sym':
        if (t.v === '?') return { k: 'bind', index: this.markers++, name: null };
        if (t.v === ':') return { k: 'bind', index: this.markers++, name: this.ident('bind marker name') };
        if (t.v === '-') {
          const n = this.next();
          if (n.k === 'integer') return { k: 'lit', lit: { t: 'integer', v: `-${n.v}` } };
          if (n.k === 'float') return { k: 'lit', lit: { t: 'float', v: `-${n.v}` } };
          if (n.k === 'ident' && n.v === 'infinity') return { k: 'lit', lit: { t: 'float', v: '-Infinity' } };
          return this.fail('expecting a number after -', n);
        }
        if (t.v === '[') {
          const items: Term[] = [];
          if (!this.isSym(']')) {
            items.push(this.term());
            while (this.acceptSym(',')) items.push(this.term());
          }
          this.expectSym(']');
          return { k: 'list', items };
        }
        if (t.v === '{') return this.braced();
        return this.fail('no viable alternative, expecting a value', t);
      case 'eof':
        return this.fail('no viable alternative, expecting a value', t);
    }
  }

  /** `{}` is an empty map (accepted for sets too), `{a, b}` a set, `{k: v}` a map. */
  private braced(): Term {
    if (this.acceptSym('}')) return { k: 'map', entries: [] };
    const first = this.term();
    if (this.acceptSym(':')) {
      const entries: Array<[Term, Term]> = [[first, this.term()]];
      while (this.acceptSym(',')) {
        const k = this.term();
        this.expectSym(':');
        entries.push([k, this.term()]);
      }
      this.expectSym('}');
      return { k: 'map', entries };
    }
    const items = [first];
    while (this.acceptSym(',')) items.push(this.term());
    this.expectSym('}');
    return { k: 'set', items };
  }
}

export function parseCql(src: string): Parsed {
  return new Parser(src, tokenize(src)).parse();
}
