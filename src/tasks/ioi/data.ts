/**
 * IOI word lists and templates (Wang et al. 2023; ACDC `acdc/ioi/ioi_dataset.py`; docs/tasks.md
 * "IOI"). Plain constants only: the task (./index.ts) and the
 * script that trains the shipped word-level IOI model both import them.
 *
 * Placeholders: `[A]` = IO (indirect object, the answer), `[B]` = S (subject),
 * `[C]` = third name (ABC templates), `[PLACE]`, `[OBJECT]`.
 */

/** The 99 first names of ACDC's `NAMES` list (each a single GPT-2 token with a leading space). */
export const NAMES: readonly string[] = Object.freeze([
  'Michael', 'Christopher', 'Jessica', 'Matthew', 'Ashley', 'Jennifer', 'Joshua', 'Amanda',
  'Daniel', 'David', 'James', 'Robert', 'John', 'Joseph', 'Andrew', 'Ryan', 'Brandon', 'Jason',
  'Justin', 'Sarah', 'William', 'Jonathan', 'Stephanie', 'Brian', 'Nicole', 'Nicholas',
  'Anthony', 'Heather', 'Eric', 'Elizabeth', 'Adam', 'Megan', 'Melissa', 'Kevin', 'Steven',
  'Thomas', 'Timothy', 'Christina', 'Kyle', 'Rachel', 'Laura', 'Lauren', 'Amber', 'Brittany',
  'Danielle', 'Richard', 'Kimberly', 'Jeffrey', 'Amy', 'Crystal', 'Michelle', 'Tiffany',
  'Jeremy', 'Benjamin', 'Mark', 'Emily', 'Aaron', 'Charles', 'Rebecca', 'Jacob', 'Stephen',
  'Patrick', 'Sean', 'Erin', 'Jamie', 'Kelly', 'Samantha', 'Nathan', 'Sara', 'Dustin', 'Paul',
  'Angela', 'Tyler', 'Scott', 'Katherine', 'Andrea', 'Gregory', 'Erica', 'Mary', 'Travis',
  'Lisa', 'Kenneth', 'Bryan', 'Lindsey', 'Kristen', 'Jose', 'Alexander', 'Jesse', 'Katie',
  'Lindsay', 'Shannon', 'Vanessa', 'Courtney', 'Christine', 'Alicia', 'Cody', 'Allison',
  'Bradley', 'Samuel',
]);

/** The 8 places. */
export const PLACES: readonly string[] = Object.freeze([
  'store', 'garden', 'restaurant', 'school', 'hospital', 'office', 'house', 'station',
]);

/** The 8 objects. */
export const OBJECTS: readonly string[] = Object.freeze([
  'ring', 'kiss', 'bone', 'basketball', 'computer', 'necklace', 'drink', 'snack',
]);

/** ACDC's `ANIMALS` (used only by corruptions ACDC does not use; kept for completeness). */
export const ANIMALS: readonly string[] = Object.freeze([
  'dog', 'cat', 'snake', 'elephant', 'beetle', 'hippo', 'giraffe', 'tiger', 'husky', 'lion',
  'panther', 'whale', 'dolphin', 'beaver', 'rabbit', 'fox', 'lamb', 'ferret',
]);

/** The 15 BABA templates B0–B14: the subject ([B]) is named first. */
export const BABA_TEMPLATES: readonly string[] = Object.freeze([
  'Then, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]',
  'Then, [B] and [A] had a lot of fun at the [PLACE]. [B] gave a [OBJECT] to [A]',
  'Then, [B] and [A] were working at the [PLACE]. [B] decided to give a [OBJECT] to [A]',
  'Then, [B] and [A] were thinking about going to the [PLACE]. [B] wanted to give a [OBJECT] to [A]',
  'Then, [B] and [A] had a long argument, and afterwards [B] said to [A]',
  'After [B] and [A] went to the [PLACE], [B] gave a [OBJECT] to [A]',
  'When [B] and [A] got a [OBJECT] at the [PLACE], [B] decided to give it to [A]',
  'When [B] and [A] got a [OBJECT] at the [PLACE], [B] decided to give the [OBJECT] to [A]',
  'While [B] and [A] were working at the [PLACE], [B] gave a [OBJECT] to [A]',
  'While [B] and [A] were commuting to the [PLACE], [B] gave a [OBJECT] to [A]',
  'After the lunch, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]',
  'Afterwards, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]',
  'Then, [B] and [A] had a long argument. Afterwards [B] said to [A]',
  'The [PLACE] [B] and [A] went to had a [OBJECT]. [B] gave it to [A]',
  'Friends [B] and [A] found a [OBJECT] at the [PLACE]. [B] gave it to [A]',
]);

/**
 * The 15 ABBA templates A0–A14: the BABA text with the first-clause "[B] and [A]" written as
 * "[A] and [B]" (the IO is named first).
 */
export const ABBA_TEMPLATES: readonly string[] = Object.freeze(
  BABA_TEMPLATES.map((t) => t.replace('[B] and [A]', '[A] and [B]')),
);

/** The 4 ABC templates (three distinct names; unused by ACDC's IOI run). */
export const ABC_TEMPLATES: readonly string[] = Object.freeze([
  'Then, [A], [B] and [C] went to the [PLACE]. [B] and [C] gave a [OBJECT] to [A]',
  'Afterwards [A], [B] and [C] went to the [PLACE]. [B] and [C] gave a [OBJECT] to [A]',
  'When [A], [B] and [C] arrived at the [PLACE], [B] and [C] gave a [OBJECT] to [A]',
  'Friends [A], [B] and [C] went to the [PLACE]. [B] and [C] gave a [OBJECT] to [A]',
]);

/** The BAC versions of the ABC templates (first two names swapped). */
export const BAC_TEMPLATES: readonly string[] = Object.freeze(
  ABC_TEMPLATES.map((t) => t.replace('[A], [B]', '[B], [A]')),
);

/**
 * Token count of a full ACDC prompt (including the answer) with the GPT-2 tokenizer, no BOS:
 * ACDC's IOI uses template A0 only (task `ioi-acdc`), the model sees the first 15 tokens and
 * the 16th is the label (IO).
 */
export const ACDC_PROMPT_TOKENS = 16;
