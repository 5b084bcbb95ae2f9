// Docker-style generated names ("adjective_surname"); a number is appended on collision.
import { randomInt } from 'node:crypto';

const ADJECTIVES = [
  'admiring', 'agitated', 'amazing', 'angry', 'awesome', 'blissful', 'bold', 'brave', 'busy', 'charming',
  'clever', 'compassionate', 'confident', 'cool', 'cranky', 'dazzling', 'determined', 'eager', 'ecstatic',
  'elastic', 'elegant', 'epic', 'festive', 'focused', 'friendly', 'frosty', 'gallant', 'gifted', 'goofy',
  'gracious', 'happy', 'hopeful', 'hungry', 'inspiring', 'jolly', 'jovial', 'keen', 'kind', 'laughing',
  'loving', 'lucid', 'magical', 'modest', 'musing', 'naughty', 'nervous', 'nice', 'nifty', 'nostalgic',
  'objective', 'optimistic', 'peaceful', 'pensive', 'practical', 'priceless', 'quirky', 'quizzical',
  'relaxed', 'reverent', 'romantic', 'serene', 'sharp', 'silly', 'sleepy', 'stoic', 'strange', 'sweet',
  'tender', 'thirsty', 'trusting', 'upbeat', 'vibrant', 'vigilant', 'wizardly', 'wonderful', 'youthful', 'zealous',
];

const SURNAMES = [
  'albattani', 'allen', 'archimedes', 'babbage', 'banach', 'bardeen', 'bell', 'bhabha', 'booth', 'bose',
  'brahmagupta', 'carson', 'cerf', 'curie', 'darwin', 'dijkstra', 'einstein', 'euclid', 'euler', 'faraday',
  'fermat', 'fermi', 'feynman', 'franklin', 'galileo', 'gauss', 'goldberg', 'hamilton', 'hawking', 'heisenberg',
  'hopper', 'hypatia', 'jackson', 'johnson', 'kalam', 'kepler', 'knuth', 'lamarr', 'leakey', 'lovelace',
  'mayer', 'mccarthy', 'meitner', 'mendel', 'morse', 'newton', 'nobel', 'noether', 'pascal', 'pasteur',
  'payne', 'perlman', 'pike', 'poincare', 'ramanujan', 'ritchie', 'shannon', 'shockley', 'sinoussi', 'stallman',
  'swartz', 'tesla', 'thompson', 'torvalds', 'turing', 'varahamihira', 'volhard', 'wescoff', 'wilbur', 'wiles',
  'williams', 'wing', 'wozniak', 'wright', 'yalow', 'yonath',
];

export function generateName(taken: (name: string) => boolean): string {
  for (let i = 0; ; i++) {
    let name = `${ADJECTIVES[randomInt(ADJECTIVES.length)]}_${SURNAMES[randomInt(SURNAMES.length)]}`;
    if (i >= 10) name += String(randomInt(10));
    if (!taken(name)) return name;
  }
}

export const VALID_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
